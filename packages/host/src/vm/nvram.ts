import {
  closeSync,
  copyFileSync,
  constants,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  rmSync,
  statSync,
  statfsSync,
  unlinkSync,
  watch,
  writeSync,
  type FSWatcher,
} from 'node:fs'
import { dirname, join } from 'node:path'
import type { Secret } from '@ward/core'
import { decryptVmFile, encryptVmFile } from '@ward/envelope'
import { HostError } from '../errors.js'
import type { VmConfig } from './config.js'

/** OVMF from Debian `ovmf`: the code (read-only) and the template of the variable store. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd'
/** A plain VM's variable store, in its folder. */
export const NVRAM_PLAIN = 'nvram.fd'
/** An encrypted VM's variable store: Ward's chunked AEAD format, role nvram, bound to the VM id. */
export const NVRAM_SEALED = 'nvram.ve'
/** statfs f_type of tmpfs. */
const TMPFS_MAGIC = 0x01021994

/**
 * The VM file header's key ids for files sealed with the VM's file key (from its bundle): the
 * provider is "ward-vm" and the key id names the VM, so `envelope describe` says which key opens it.
 */
export const fileKeyIds = (c: VmConfig): { providerId: string; kekId: string } => ({
  providerId: 'ward-vm',
  kekId: `${c.id}/file-key`,
})

const sealOptions = (c: VmConfig) => ({ vmId: c.id, role: 'nvram' as const, ...fileKeyIds(c) })

function checkOvmf(): void {
  for (const f of [OVMF_CODE, OVMF_VARS])
    try {
      closeSync(openSync(f, 'r'))
    } catch {
      throw new HostError(
        'ERR_HOST_FIRMWARE',
        `${f} is missing: install Debian's ovmf (scripts/install-peers.sh) for --firmware efi`,
      )
    }
}

/** A new efi VM's variable store from OVMF's template: sealed with the file key when encrypted. */
export async function createNvram(
  folder: string,
  c: VmConfig,
  fileKey: Uint8Array | undefined,
): Promise<void> {
  checkOvmf()
  if (fileKey === undefined) {
    copyFileSync(OVMF_VARS, join(folder, NVRAM_PLAIN), constants.COPYFILE_EXCL)
    return
  }
  await encryptVmFile(OVMF_VARS, join(folder, NVRAM_SEALED), fileKey, sealOptions(c))
}

/** True when `dir` is on a tmpfs (memory: nothing reaches a disk, except through swap). */
export function onTmpfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC
  } catch {
    return false
  }
}

/**
 * Where a run's plaintext variable store lives: the VM's run folder when it is on a tmpfs, else a
 * 0700 folder of this VM's on /dev/shm.
 */
export function nvramRunFolder(runFolder: string, c: VmConfig): string {
  if (onTmpfs(runFolder)) return runFolder
  if (!onTmpfs('/dev/shm'))
    throw new HostError(
      'ERR_HOST_RUN_DIR',
      'no tmpfs for the decrypted NVRAM: mount a tmpfs on the agent run folder or /dev/shm',
    )
  const d = join('/dev/shm', `ward-vm-${c.id}`)
  rmSync(d, { recursive: true, force: true })
  mkdirSync(d, { mode: 0o700 })
  return d
}

/**
 * The variable store QEMU runs with: a plain VM's own file, or an encrypted VM's decrypted into
 * `tmpfsFolder` (0600; every chunk authenticated first).
 */
export async function openNvram(
  folder: string,
  c: VmConfig,
  fileKey: Uint8Array | undefined,
  tmpfsFolder: string,
): Promise<string> {
  checkOvmf()
  if (fileKey === undefined) return join(folder, NVRAM_PLAIN)
  const plain = join(tmpfsFolder, 'nvram.fd')
  await decryptVmFile(join(folder, NVRAM_SEALED), plain, fileKey, sealOptions(c))
  return plain
}

/** At power-off: the run's variable store sealed back into the VM folder (atomically), then wiped. */
export async function sealNvram(
  folder: string,
  c: VmConfig,
  fileKey: Uint8Array,
  plain: string,
): Promise<void> {
  try {
    await encryptVmFile(plain, join(folder, NVRAM_SEALED), fileKey, {
      ...sealOptions(c),
      overwrite: true,
    })
  } finally {
    wipeFile(plain)
  }
}

/** Quiet time after the last change of a run's variable store before it is sealed back. */
export const NVRAM_WRITE_BACK_MS = 500

/** A running VM's variable store, sealed back into the VM folder whenever it changes. */
export interface NvramWriteBack {
  /** Stop watching; waits for a write-back under way (the power-off seal follows). */
  close(): Promise<void>
}

/**
 * Watch the run's plaintext variable store (inotify through fs.watch: QEMU writes the pflash file
 * on every flash write of the guest's firmware) and seal it back into the VM folder after
 * `debounceMs` without a change, so a host crash loses at most the last moments of the run's
 * changes. Each write-back seals a snapshot: the store is copied within its tmpfs folder (0600),
 * the copy is used only if the store did not change during the copy (else it is tried again), and
 * `encryptVmFile` writes the sealed file atomically (temporary file, fsync, rename): the datastore
 * always holds a whole sealed store, old or new, never a torn one. Failures go to `onError` and
 * the next change tries again.
 */
export function watchNvram(o: {
  readonly folder: string
  readonly config: VmConfig
  readonly plain: string
  readonly fileKey: Secret
  readonly debounceMs?: number
  readonly onSealed?: () => void
  readonly onError: (e: unknown) => void
}): NvramWriteBack {
  const debounce = o.debounceMs ?? NVRAM_WRITE_BACK_MS
  const snapshot = join(dirname(o.plain), '.nvram.snapshot')
  let timer: NodeJS.Timeout | undefined
  let dirty = false
  let closed = false
  let chain: Promise<void> = Promise.resolve()
  const stamp = (): string => {
    const st = statSync(o.plain, { bigint: true })
    return `${st.mtimeNs}/${st.ctimeNs}/${st.size}`
  }
  const schedule = (): void => {
    dirty = true
    if (closed) return
    clearTimeout(timer)
    timer = setTimeout(() => {
      chain = chain.then(writeBack, writeBack)
    }, debounce)
  }
  const writeBack = async (): Promise<void> => {
    if (!dirty || closed) return
    dirty = false
    try {
      const before = stamp()
      copyFileSync(o.plain, snapshot)
      if (stamp() !== before) {
        // written while copied: that copy may mix two states; the next round takes a quiet one
        wipeFile(snapshot)
        schedule()
        return
      }
      await o.fileKey.use((k) =>
        encryptVmFile(snapshot, join(o.folder, NVRAM_SEALED), k, {
          ...sealOptions(o.config),
          overwrite: true,
        }),
      )
      o.onSealed?.()
    } catch (e) {
      o.onError(e)
    } finally {
      wipeFile(snapshot)
    }
  }
  let watcher: FSWatcher | undefined = watch(o.plain, { persistent: false }, schedule)
  watcher.on('error', (e) => o.onError(e))
  return {
    async close() {
      closed = true
      clearTimeout(timer)
      watcher?.close()
      watcher = undefined
      await chain
    },
  }
}

/** A copy of a run's plaintext store sealed into `out` (a snapshot's `nvram.ve`); `out` is new. */
export async function sealNvramCopy(
  plain: string,
  out: string,
  c: VmConfig,
  fileKey: Uint8Array,
): Promise<void> {
  await encryptVmFile(plain, out, fileKey, sealOptions(c))
}

/** Overwrite a file with zeros, fsync, unlink (the plaintext NVRAM of a run). */
export function wipeFile(path: string): void {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW)
  } catch {
    rmSync(path, { force: true })
    return
  }
  try {
    const size = fstatSync(fd).size
    const zeros = Buffer.alloc(Math.min(size, 1 << 20))
    for (let off = 0; off < size;)
      off += writeSync(fd, zeros, 0, Math.min(zeros.length, size - off), off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  unlinkSync(path)
}

/** QEMU arguments for OVMF: the code read-only, the variable store read-write. */
export function ovmfArgs(vars: string): string[] {
  return [
    '-blockdev',
    JSON.stringify({
      driver: 'file',
      filename: OVMF_CODE,
      'node-name': 'ovmf-code',
      'read-only': true,
    }),
    '-blockdev',
    JSON.stringify({ driver: 'file', filename: vars, 'node-name': 'ovmf-vars' }),
    '-machine',
    'pc,pflash0=ovmf-code,pflash1=ovmf-vars',
  ]
}
