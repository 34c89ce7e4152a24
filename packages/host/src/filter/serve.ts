import type { KeyObject } from 'node:crypto'
import { NbdServer, type NbdEvent, type NbdServerOptions } from '@ward/nbd'
import { openEncryptedDisk, type EncryptedDisk, type EncryptedDiskStats } from './encrypted-disk.js'

/** What the filter reports: the NBD server's events plus its own; ids, sizes and codes only. */
export type FilterEvent =
  | NbdEvent
  | { readonly type: 'serving'; readonly socketPath: string; readonly size: number }
  | { readonly type: 'stopped'; readonly socketPath: string }

export interface ServeEncryptedDiskOptions {
  /** The LUKS2 disk file (made by @ward/envelope, or any single-segment aes-xts-plain64 volume). */
  readonly path: string
  /** The disk's volume key (DEK, 64 bytes): copied, checked against the header, zeroed at close. */
  readonly volumeKey: KeyObject | Uint8Array
  /**
   * Unix socket to listen on. Its folder must be this user's, mode 0700 or narrower (the VM's run
   * folder); the socket is made 0600; a stale socket is replaced.
   */
  readonly socketPath: string
  /** NBD export name (default ''; the empty name also selects it). */
  readonly exportName?: string
  readonly readOnly?: boolean
  /**
   * One client at a time (default true: a VM's disk has one reader, QEMU); a second client's
   * NBD_OPT_GO is refused while the first is connected, which keeps working.
   */
  readonly exclusive?: boolean
  /** See EncryptedDiskOptions.mapReads (default false). */
  readonly mapReads?: boolean
  /** Tuning of the NBD server (in-flight limits, timeouts). */
  readonly nbd?: Pick<
    NbdServerOptions,
    'maxInflight' | 'maxInflightBytes' | 'handshakeTimeoutMs' | 'maxConnections' | 'description'
  >
  /** Receives every event; must not throw (exceptions are ignored). */
  readonly log?: (e: FilterEvent) => void
}

/** A running crypto filter. */
export interface EncryptedDiskServer {
  readonly socketPath: string
  readonly exportName: string
  /** Plaintext size of the export in bytes. */
  readonly size: number
  readonly stats: EncryptedDiskStats
  /** Open NBD connections. */
  readonly connections: number
  /**
   * Stop: no new connections, in-flight requests finish (after `timeoutMs`, default 10 s, the
   * rest are cut), the socket file is removed, the disk closed and the key zeroed. Idempotent.
   */
  close(opts?: { readonly timeoutMs?: number }): Promise<void>
}

/**
 * The host's crypto filter: serve the plaintext of the LUKS2 disk at `path` over NBD on a unix
 * socket (newstyle fixed handshake; READ, WRITE, FLUSH, TRIM, WRITE_ZEROES; FUA), transforming
 * sectors with the envelope's XTS addon. FLUSH and FUA are fdatasync of the disk file before the
 * reply. The volume key stays in this process; nothing it logs contains it or any data.
 */
export async function serveEncryptedDisk(
  o: ServeEncryptedDiskOptions,
): Promise<EncryptedDiskServer> {
  const emit = (e: FilterEvent): void => {
    try {
      o.log?.(e)
    } catch {
      // a failing logger must not break the data path
    }
  }
  const disk: EncryptedDisk = await openEncryptedDisk(o.path, {
    volumeKey: o.volumeKey,
    ...(o.readOnly !== undefined ? { readOnly: o.readOnly } : {}),
    ...(o.mapReads !== undefined ? { mapReads: o.mapReads } : {}),
  })
  const exportName = o.exportName ?? ''
  let server: NbdServer
  try {
    server = new NbdServer(disk, {
      ...o.nbd,
      exportName,
      exclusive: o.exclusive ?? true,
      readOnly: o.readOnly ?? false,
      preferredBlockSize: disk.sectorSize,
      onEvent: emit,
    })
    await server.listen(o.socketPath)
  } catch (e) {
    await disk.close()
    throw e
  }
  emit({ type: 'serving', socketPath: o.socketPath, size: disk.size })
  let closing: Promise<void> | undefined
  return {
    socketPath: o.socketPath,
    exportName,
    size: disk.size,
    stats: disk.stats,
    get connections() {
      return server.connections
    },
    close(opts = {}) {
      closing ??= (async () => {
        try {
          await server.close(opts)
        } finally {
          await disk.close()
          emit({ type: 'stopped', socketPath: o.socketPath })
        }
      })()
      return closing
    },
  }
}
