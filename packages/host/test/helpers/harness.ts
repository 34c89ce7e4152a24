import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root, from packages/host/dist/test/helpers/. */
export const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url))
export const WARD_BIN = join(ROOT, 'packages/cli/bin/ward.js')

export function tempDir(prefix = 'ward-host-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

async function waitPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port })
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > end) throw new Error(`port ${port} did not open`)
    await new Promise((r) => setTimeout(r, 30))
  }
}

export interface Swtpm {
  readonly port: number
  readonly spec: string
  readonly tcti: string
  stop(): Promise<void>
}

/** A fresh swtpm (new state folder, data port P and control port P+1), stopped by its PID. */
export async function startSwtpm(stateDir: string): Promise<Swtpm> {
  mkdirSync(stateDir, { recursive: true })
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = 20000 + 2 * Math.floor(Math.random() * 15000)
    if (!(await portFree(port)) || !(await portFree(port + 1))) continue
    const proc = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${stateDir}`,
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
      ],
      { stdio: 'ignore' },
    )
    const exited = new Promise<void>((r) => proc.once('exit', () => r()))
    try {
      await Promise.race([
        waitPort(port, 5000),
        exited.then(() => Promise.reject(new Error('swtpm exited'))),
      ])
    } catch {
      proc.kill('SIGKILL')
      continue
    }
    return {
      port,
      spec: `swtpm:127.0.0.1:${port}`,
      tcti: `swtpm:host=127.0.0.1,port=${port}`,
      async stop() {
        if (proc.exitCode === null) proc.kill('SIGTERM')
        await exited
      },
    }
  }
  throw new Error('could not start swtpm')
}

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run a command to completion. */
export function run(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Run the real `ward` CLI. */
export function ward(args: readonly string[]): Promise<RunResult> {
  return run(process.execPath, [WARD_BIN, ...args])
}

export interface Serving {
  readonly proc: ChildProcess
  /** Everything the agent printed so far (its pino log on stdout, messages on stderr). */
  output(): string
  /** SIGTERM and wait for exit (a clean shutdown = the host reboots on the next serve). */
  stop(): Promise<number | null>
  /** kill -9 (power loss). */
  kill9(): Promise<void>
}

/**
 * Start `ward host serve` and wait until it is ready, or until it exits (a refused boot): then
 * `exitCode` is set and `output()` holds what it printed.
 */
export async function serve(
  args: readonly string[],
): Promise<Serving & { exitCode: number | null | undefined }> {
  const proc = spawn(process.execPath, [WARD_BIN, 'host', 'serve', ...args])
  let out = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)))
  const ready = new Promise<void>((resolve) => {
    const check = (): void => {
      if (out.includes('"agent ready"')) resolve()
    }
    proc.stdout.on('data', check)
  })
  const first = await Promise.race([ready.then(() => undefined), exited.then((c) => ({ code: c }))])
  return {
    proc,
    exitCode: first === undefined ? undefined : first.code,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    },
  }
}

/** Write a 0600 file. */
export function secretFile(path: string, data: Uint8Array | string): string {
  writeFileSync(path, data, { mode: 0o600 })
  return path
}
