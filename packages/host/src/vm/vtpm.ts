import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import { hkdfSha256 } from '@ward/envelope'
import { HostError } from '../errors.js'

/** The vTPM's state folder in the VM folder (swtpm's files, encrypted by swtpm with the state key). */
export const VTPM_DIR = 'vtpm'
export const VTPM_LOG = 'vtpm.log'
export const VTPM_SOCKET = 'vtpm.sock'
const INFO = new TextEncoder().encode('ward/vtpm/state-key')

/**
 * The key swtpm encrypts the vTPM state with (aes-256-cbc, its `--key` option): HKDF-SHA256 of
 * the VM's file key (from its bundle), salted with the VM id. It reaches swtpm through a pipe,
 * never a file, argv or the environment.
 */
export function vtpmStateKey(fileKey: Uint8Array, vmId: string): Uint8Array {
  return hkdfSha256(fileKey, new TextEncoder().encode(vmId), INFO, 32)
}

export interface Vtpm {
  readonly socket: string
  readonly child: ChildProcess
  readonly exited: Promise<void>
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>
}

/** QEMU arguments attaching the vTPM (TPM 2.0 TIS) through swtpm's control socket. */
export function vtpmQemuArgs(socket: string): string[] {
  return [
    '-chardev',
    `socket,id=chrtpm,path=${socket}`,
    '-tpmdev',
    'emulator,id=tpm0,chardev=chrtpm',
    '-device',
    'tpm-tis,tpmdev=tpm0',
  ]
}

/**
 * Start the VM's swtpm (TPM 2.0) on a unix control socket in its run folder, its state in the VM
 * folder encrypted with `key` (written to a pipe on fd 3 and zeroed by the caller); it ends when
 * QEMU disconnects (`--terminate`).
 */
export async function startVtpm(o: {
  readonly folder: string
  readonly runFolder: string
  readonly key: Uint8Array
  readonly swtpm?: string
}): Promise<Vtpm> {
  const state = join(o.folder, VTPM_DIR)
  // a snapshot revert stopped between its two renames: its copy was complete (it is renamed in
  // only after it was copied and fsynced), so it is the state (snapshots.ts restoreStateFolder)
  if (!existsSync(state) && existsSync(`${state}.revert`)) renameSync(`${state}.revert`, state)
  mkdirSync(state, { recursive: true, mode: 0o700 })
  const socket = join(o.runFolder, VTPM_SOCKET)
  const logFd = openSync(join(o.folder, VTPM_LOG), 'a', 0o600)
  let child: ChildProcess
  try {
    child = spawn(
      o.swtpm ?? 'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${state},mode=0600`,
        '--ctrl',
        `type=unixio,path=${socket}`,
        '--key',
        'fd=3,mode=aes-256-cbc,format=binary',
        '--terminate',
      ],
      { stdio: ['ignore', logFd, logFd, 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin' } },
    )
  } finally {
    closeSync(logFd)
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(new HostError('ERR_HOST_VTPM', `cannot start swtpm: ${e.message} (install swtpm)`)),
    ),
  )
  const pipe = child.stdio[3] as Writable
  pipe.on('error', () => undefined)
  pipe.end(Buffer.from(o.key))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  const early = exited.then(() => {
    throw new HostError(
      'ERR_HOST_VTPM',
      `swtpm exited at start: see ${join(o.folder, VTPM_LOG)} (a state encrypted with another key does not load)`,
    )
  })
  early.catch(() => undefined)
  try {
    await Promise.race([
      spawnFailed,
      early,
      (async () => {
        for (let i = 0; i < 200 && !existsSync(socket); i++)
          await new Promise((r) => setTimeout(r, 25))
        if (!existsSync(socket))
          throw new HostError('ERR_HOST_VTPM', 'swtpm did not open its socket within 5 s')
      })(),
    ])
  } catch (e) {
    spawnFailed.catch(() => undefined)
    await stop()
    throw e
  }
  spawnFailed.catch(() => undefined)
  return { socket, child, exited, stop }
}
