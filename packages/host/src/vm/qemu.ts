import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HostError } from '../errors.js'
import type { Accelerator } from './accel.js'
import type { VmConfig } from './config.js'
import { QmpClient } from './qmp.js'

/** QEMU's log (its stderr) and the guest's serial console, in the VM's folder: never key material. */
export const QEMU_LOG = 'qemu.log'
export const SERIAL_LOG = 'serial.log'
export const QMP_SOCKET = 'qmp.sock'
export const PID_FILE = 'qemu.pid'

/** How a disk reaches QEMU: the crypto filter's NBD socket, or the raw file itself. */
export type DiskBacking = { readonly nbdSocket: string } | { readonly rawFile: string }

export interface BootOptions {
  readonly kernel?: string
  readonly initrd?: string
  readonly append?: string
}

/**
 * qemu-system-x86_64's arguments for a VM. Nothing secret goes here (disks that are encrypted
 * arrive decrypted over NBD from the agent's crypto filter; QEMU never sees a key).
 */
export function qemuArgs(o: {
  readonly config: VmConfig
  readonly accelerator: Accelerator
  readonly folder: string
  readonly runFolder: string
  readonly disks: readonly DiskBacking[]
  readonly boot: BootOptions
  /** Resume: wait for the state on QMP migrate-incoming; the console log is appended to. */
  readonly incoming?: boolean
}): string[] {
  const c = o.config
  const args = [
    '-name',
    `${c.name},process=ward-vm-${c.id}`,
    '-uuid',
    c.id,
    '-accel',
    o.accelerator,
    '-m',
    String(c.memoryMiB),
    '-smp',
    String(c.cpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-qmp',
    `unix:${join(o.runFolder, QMP_SOCKET)},server=on,wait=off`,
    '-chardev',
    `file,id=serial0,path=${join(o.folder, SERIAL_LOG)}${o.incoming ? ',append=on' : ''}`,
    '-serial',
    'chardev:serial0',
    '-pidfile',
    join(o.runFolder, PID_FILE),
  ]
  if (o.incoming) args.push('-incoming', 'defer')
  if (o.boot.kernel !== undefined) args.push('-kernel', o.boot.kernel)
  if (o.boot.initrd !== undefined) args.push('-initrd', o.boot.initrd)
  if (o.boot.append !== undefined) args.push('-append', o.boot.append)
  o.disks.forEach((d, i) => {
    const file =
      'nbdSocket' in d
        ? { driver: 'nbd', server: { type: 'unix', path: d.nbdSocket } }
        : { driver: 'file', filename: d.rawFile }
    // JSON syntax: paths need no comma escaping
    args.push('-blockdev', JSON.stringify({ driver: 'raw', 'node-name': `disk${i}`, file }))
    args.push('-device', `virtio-blk-pci,drive=disk${i}`)
  })
  return args
}

/** A running QEMU: its process, its QMP connection, and a promise that settles when it exits. */
export interface QemuProcess {
  readonly pid: number
  readonly child: ChildProcess
  readonly qmp: QmpClient
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Start QEMU (its own process group, stdin closed, stdout and stderr appended to the VM's
 * qemu.log) and connect QMP. A QEMU that exits or does not open QMP within `qmpTimeoutMs` is
 * killed and reported with the end of its log.
 */
export async function startQemu(o: {
  readonly qemu: string
  readonly args: readonly string[]
  readonly folder: string
  readonly runFolder: string
  readonly qmpTimeoutMs?: number
}): Promise<QemuProcess> {
  const logFd = openSync(join(o.folder, QEMU_LOG), 'a', 0o600)
  let child: ChildProcess
  try {
    child = spawn(o.qemu, [...o.args], {
      stdio: ['ignore', logFd, logFd],
      detached: true,
      // nothing of the agent's environment is needed by QEMU; keep it minimal
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
    })
  } finally {
    closeSync(logFd)
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (e) =>
      reject(
        new HostError(
          'ERR_HOST_QEMU',
          `cannot start ${o.qemu}: ${e.message} (install qemu-system-x86)`,
        ),
      ),
    ),
  )
  const early = exited.then((r) => {
    throw exitedAtStart(o.folder, r)
  })
  try {
    const qmp = await Promise.race([
      QmpClient.connect(join(o.runFolder, QMP_SOCKET), o.qmpTimeoutMs ?? 15_000),
      spawnError,
      early,
    ])
    early.catch(() => undefined)
    return { pid: child.pid!, child, qmp, exited }
  } catch (e) {
    early.catch(() => undefined)
    spawnError.catch(() => undefined)
    killTree(child)
    const r = await Promise.race([
      exited,
      new Promise<undefined>((res) => setTimeout(() => res(undefined), 5000)),
    ])
    // QMP closing because QEMU exited: report the exit and QEMU's own words
    if (r !== undefined && (e as { code?: string }).code === 'ERR_HOST_QMP')
      throw exitedAtStart(o.folder, r)
    throw e
  }
}

function exitedAtStart(
  folder: string,
  r: { code: number | null; signal: NodeJS.Signals | null },
): HostError {
  let tail = ''
  try {
    const log = readFileSync(join(folder, QEMU_LOG), 'utf8')
    tail = log.trimEnd().split('\n').slice(-3).join(' | ').slice(-400)
  } catch {
    // no log
  }
  return new HostError(
    'ERR_HOST_QEMU',
    `QEMU exited at start (${r.signal ?? `code ${r.code}`})${tail ? `: ${tail}` : ''} (log: ${join(folder, QEMU_LOG)})`,
  )
}

/** SIGKILL QEMU's process group. */
export function killTree(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    try {
      child.kill('SIGKILL')
    } catch {
      // gone
    }
  }
}
