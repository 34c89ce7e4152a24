import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { PassThrough, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createVmFileDecryptStream, createVmFileEncryptStream } from '@ward/envelope'
import { HostError } from '../errors.js'
import { fsyncDir } from '../util/files.js'
import type { QmpClient } from './qmp.js'

/** An encrypted VM's suspend image (Ward VM file, role snapshot-memory); a plain VM's raw stream. */
export const SUSPEND_SEALED = 'suspend.ve'
export const SUSPEND_PLAIN = 'suspend.vmss'

/** How the image is sealed: the VM's file key and the VM file header's binding. */
export interface StateSeal {
  readonly key: Uint8Array
  readonly vmId: string
  readonly providerId: string
  readonly kekId: string
}

async function waitMigration(
  qmp: QmpClient,
  done: (status: string) => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const r = (await qmp.execute('query-migrate', undefined, 5000)) as {
      status?: string
      'error-desc'?: string
    }
    const status = r.status ?? 'none'
    if (status === 'failed' || status === 'cancelled')
      throw new HostError(
        'ERR_HOST_VM_SUSPEND',
        `${what}: QEMU's migration ${status}${r['error-desc'] ? `: ${r['error-desc'].slice(0, 200)}` : ''}`,
      )
    if (done(status)) return
    if (Date.now() > end)
      throw new HostError('ERR_HOST_VM_SUSPEND', `${what}: not done within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * Suspend: the guest is stopped and QEMU's state streamed (QMP migrate to a unix socket the
 * agent serves in the run folder) into `out`, through the AEAD format when `seal` is given: the
 * plain state never touches a disk. The file appears complete or not at all.
 */
export async function saveState(o: {
  readonly qmp: QmpClient
  readonly runFolder: string
  readonly out: string
  readonly seal?: StateSeal | undefined
  readonly timeoutMs?: number
}): Promise<void> {
  const sock = join(o.runFolder, 'suspend.sock')
  const tmp = `${o.out}.tmp`
  rmSync(tmp, { force: true })
  let received: Promise<void> | undefined
  const server = createServer({ pauseOnConnect: false }, (s: Socket) => {
    if (received) return void s.destroy()
    const transform: Transform = o.seal
      ? createVmFileEncryptStream(
          {
            vmId: o.seal.vmId,
            role: 'snapshot-memory',
            providerId: o.seal.providerId,
            kekId: o.seal.kekId,
          },
          o.seal.key,
        )
      : new PassThrough()
    received = pipeline(s, transform, createWriteStream(tmp, { mode: 0o600, flags: 'wx' }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(sock, resolve)
  })
  try {
    await o.qmp.execute('stop')
    await o.qmp.execute('migrate', { uri: `unix:${sock}` })
    await waitMigration(o.qmp, (s) => s === 'completed', o.timeoutMs ?? 300_000, 'suspend')
    if (!received) throw new HostError('ERR_HOST_VM_SUSPEND', 'suspend: QEMU sent no state')
    await received
    const fd = openSync(tmp, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, o.out)
    fsyncDir(join(o.out, '..'))
  } catch (e) {
    rmSync(tmp, { force: true })
    await o.qmp.execute('cont').catch(() => undefined) // the guest goes on running
    throw e
  } finally {
    server.close()
    rmSync(sock, { force: true })
  }
}

/**
 * Resume: QEMU started with `-incoming defer` listens on a unix socket in the run folder
 * (QMP migrate-incoming) and the agent streams the image into it, authenticated chunk by chunk
 * when sealed; the guest runs on from where it stopped.
 */
export async function loadState(o: {
  readonly qmp: QmpClient
  readonly runFolder: string
  readonly image: string
  readonly seal?: StateSeal | undefined
  readonly timeoutMs?: number
}): Promise<void> {
  const sock = join(o.runFolder, 'incoming.sock')
  await o.qmp.execute('migrate-incoming', { uri: `unix:${sock}` })
  let s: Socket | undefined
  for (let i = 0; i < 200 && !s; i++) {
    s = await new Promise<Socket | undefined>((resolve) => {
      const c = connect(sock)
      c.once('connect', () => resolve(c))
      c.once('error', () => resolve(undefined))
    })
    if (!s) await new Promise((r) => setTimeout(r, 25))
  }
  if (!s) throw new HostError('ERR_HOST_VM_SUSPEND', 'resume: QEMU did not listen for the state')
  const input = createReadStream(o.image)
  if (o.seal)
    await pipeline(
      input,
      createVmFileDecryptStream(o.seal.key, { vmId: o.seal.vmId, role: 'snapshot-memory' }),
      s,
    )
  else await pipeline(input, s)
  const end = Date.now() + (o.timeoutMs ?? 300_000)
  for (;;) {
    const st = (await o.qmp.execute('query-status', undefined, 5000)) as { status?: string }
    if (st.status === 'running') return
    if (st.status === 'paused' || st.status === 'postmigrate') {
      await o.qmp.execute('cont')
      return
    }
    if (Date.now() > end)
      throw new HostError('ERR_HOST_VM_SUSPEND', `resume: QEMU still ${st.status ?? '?'}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
