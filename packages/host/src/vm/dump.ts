import { execFile } from 'node:child_process'
import { closeSync, constants, fsyncSync, linkSync, openSync, rmSync, unlinkSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { HostError } from '../errors.js'
import { fsyncDir } from '../util/files.js'
import { sealCoreDump } from '../crypto-state/coredump-file.js'
import type { KeyRef } from '../keys/key-cache.js'
import type { QmpClient } from './qmp.js'

const run = promisify(execFile)

/** A running guest as dump-memory needs it (VmManager.runningGuest). */
export interface RunningGuest {
  readonly id: string
  readonly name: string
  readonly qmp: QmpClient
  /** The VM's 0700 run folder (a tmpfs on a real host). */
  readonly runFolder: string
}

/**
 * `dump-memory`: QEMU writes the guest's memory as an ELF core (QMP dump-guest-memory, detached)
 * into a FIFO in the VM's 0700 run folder; the agent reads it and seals it on the fly into a Ward
 * core dump under a random dump key wrapped by the host key. The plain memory passes only
 * through the pipe: never a disk. QEMU stops the guest for the dump and lets it run on after.
 * The output appears complete (fsynced) or not at all; it is never overwritten.
 */
export async function dumpGuestMemory(o: {
  readonly guest: RunningGuest
  readonly out: string
  readonly hostKey: Uint8Array
  readonly hostKeyRef: KeyRef
  readonly timeoutMs?: number
}): Promise<{ plaintextBytes: number; fileBytes: number }> {
  const { guest } = o
  const fifo = join(guest.runFolder, 'dump.fifo')
  const tmp = join(dirname(o.out), `.${guest.id}.dump.tmp`)
  rmSync(fifo, { force: true })
  rmSync(tmp, { force: true })
  await run('mkfifo', ['-m', '600', fifo]).catch((e: unknown) => {
    throw new HostError(
      'ERR_HOST_VM_DUMP',
      `dump-memory: cannot make the dump pipe in ${guest.runFolder} (${(e as NodeJS.ErrnoException).code ?? 'mkfifo failed'})`,
    )
  })
  const { header, seal } = sealCoreDump({
    hostKey: o.hostKey,
    hostKeyRef: o.hostKeyRef,
    vmId: guest.id,
    vmName: guest.name,
  })
  // A blocking open of the FIFO's read end (on the thread pool) returns once QEMU opens it.
  const reader = open(fifo, constants.O_RDONLY)
  let plaintextBytes = 0
  let fileBytes = 0
  try {
    const file = createWriteStream(tmp, { flags: 'wx', mode: 0o600 })
    file.write(header)
    fileBytes += header.length
    try {
      await guest.qmp.execute('dump-guest-memory', {
        paging: false,
        protocol: `file:${fifo}`,
        detach: true,
      })
    } catch (e) {
      file.destroy()
      throw new HostError(
        'ERR_HOST_VM_DUMP',
        `dump-memory: QEMU refused the dump (${e instanceof Error ? e.message.slice(0, 200) : 'error'})`,
        {},
        { cause: e },
      )
    }
    // QEMU opens the file before it answers; bounded all the same (a hung open must not hang the agent)
    const fh = await Promise.race([
      reader,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new HostError('ERR_HOST_VM_DUMP', 'dump-memory: QEMU did not open the dump pipe'),
            ),
          30_000,
        ).unref(),
      ),
    ])
    const counted = new Writable({
      write(chunk: Buffer, _enc, cb) {
        fileBytes += chunk.length
        if (!file.write(chunk)) file.once('drain', () => cb())
        else cb()
      },
      final(cb) {
        file.end(() => cb())
      },
      destroy(err, cb) {
        file.destroy()
        cb(err)
      },
    })
    const input = fh.createReadStream()
    input.on('data', (d: Buffer | string) => (plaintextBytes += d.length))
    const streamed = pipeline(input, seal, counted)
    const status = await waitDump(guest.qmp, o.timeoutMs ?? 600_000, () => streamed)
    if (status !== 'completed')
      throw new HostError('ERR_HOST_VM_DUMP', `dump-memory: QEMU's dump ended ${status}`)
    await streamed
    const fd = openSync(tmp, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    linkSync(tmp, o.out) // never overwrites
    unlinkSync(tmp)
    fsyncDir(dirname(o.out))
    return { plaintextBytes, fileBytes }
  } catch (e) {
    rmSync(tmp, { force: true })
    await unblock(fifo, reader)
    throw e
  } finally {
    seal.destroy()
    rmSync(fifo, { force: true })
  }
}

/** Let a pending blocking open of the FIFO return (open the write end, close it). */
async function unblock(
  fifo: string,
  reader: Promise<import('node:fs/promises').FileHandle>,
): Promise<void> {
  try {
    const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
    closeSync(fd)
  } catch {
    // no reader waiting
  }
  await reader.then((fh) => fh.close()).catch(() => undefined)
}

/** Poll query-dump until the dump is no longer active (or the stream failed). */
async function waitDump(
  qmp: QmpClient,
  timeoutMs: number,
  streamed: () => Promise<void>,
): Promise<string> {
  const end = Date.now() + timeoutMs
  let failed: unknown
  streamed().catch((e: unknown) => (failed = e))
  for (;;) {
    if (failed !== undefined) throw failed
    const r = (await qmp.execute('query-dump', undefined, 10_000)) as { status?: string }
    const s = r.status ?? 'none'
    if (s !== 'active') return s
    if (Date.now() > end)
      throw new HostError('ERR_HOST_VM_DUMP', `dump-memory: not done within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
