import { spawn, type ChildProcess } from 'node:child_process'

export interface RunResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: Buffer
  readonly stderr: string
  /** Killed (whole process group, SIGKILL) because it ran longer than `timeoutMs`. */
  readonly timedOut: boolean
  readonly ms: number
}

export interface RunOptions {
  /** Default 60 s; then the process group is SIGKILLed. */
  readonly timeoutMs?: number
  readonly input?: Uint8Array | string
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Output kept per stream (default 16 MiB); the rest is dropped. */
  readonly maxOutput?: number
}

const live = new Set<ChildProcess>()
let hooked = false

/** SIGKILL the process group led by `child` (it was spawned detached). */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
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

/**
 * Spawn `cmd` in its own process group and remember it: it is SIGKILLed with its group when this
 * process exits, so a hung peer (QEMU, nbdcopy) never outlives a test run.
 */
export function spawnGroup(
  cmd: string,
  args: readonly string[],
  o: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  if (!hooked) {
    hooked = true
    process.on('exit', () => {
      for (const c of live) killGroup(c)
    })
  }
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
    ...(o.env === undefined ? {} : { env: o.env }),
  })
  live.add(child)
  child.once('exit', () => live.delete(child))
  child.once('error', () => live.delete(child))
  return child
}

/** Run a tool to completion with a hard timeout; never rejects for the tool's own failure. */
export function runTool(
  cmd: string,
  args: readonly string[],
  o: RunOptions = {},
): Promise<RunResult> {
  const start = Date.now()
  const max = o.maxOutput ?? 16 * 1024 * 1024
  return new Promise((resolve, reject) => {
    const child = spawnGroup(cmd, args, o)
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outLen = 0
    let errLen = 0
    let timedOut = false
    child.stdout!.on('data', (c: Buffer) => {
      if (outLen < max) out.push(c)
      outLen += c.length
    })
    child.stderr!.on('data', (c: Buffer) => {
      if (errLen < max) err.push(c)
      errLen += c.length
    })
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, o.timeoutMs ?? 60_000)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString(),
        timedOut,
        ms: Date.now() - start,
      })
    })
    child.stdin!.on('error', () => undefined)
    if (o.input !== undefined) child.stdin!.end(o.input)
    else child.stdin!.end()
  })
}
