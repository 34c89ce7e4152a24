import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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
