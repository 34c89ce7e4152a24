import { readFileSync } from 'node:fs'
import { chooseLogFormat, LOG_FORMAT_ENV } from '@ward/core'
import type { LogFormat } from '@ward/core'
import { choice } from './flags.js'
import { CliError } from './errors.js'

/** Why a long-running `ward ... serve` stops. */
export type StopReason = 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'wrapper-exited'

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const
const WATCH_MS = 250

/**
 * Resolves when a service should shut down: SIGTERM, SIGINT (Ctrl-C) or SIGHUP to this process, or
 * the end of the npm/npx process that started it.
 *
 * `packages/cli/bin/ward` execs the runtime, so a signal sent to the pid the user started reaches
 * the service itself. `npx ward kms serve &` is different: `$!` is npm's pid, and npm killed by a
 * signal leaves its child running, reparented and unreachable for the shell's `kill %1`. So when an
 * npm process is among this process's ancestors, its liveness is polled (a `kill(pid, 0)` every
 * 250 ms, on an unref'd timer) and its end stops the service like SIGTERM would.
 */
export function untilStopped(): Promise<StopReason> {
  return new Promise((resolve) => {
    const wrapper = npmWrapper()
    let timer: NodeJS.Timeout | undefined
    const done = (why: StopReason): void => {
      for (const s of SIGNALS) process.off(s, handlers[s])
      if (timer) clearInterval(timer)
      resolve(why)
    }
    const handlers = Object.fromEntries(SIGNALS.map((s) => [s, () => done(s)])) as Record<
      (typeof SIGNALS)[number],
      () => void
    >
    for (const s of SIGNALS) process.on(s, handlers[s])
    if (wrapper) {
      timer = setInterval(() => {
        if (!alive(wrapper)) done('wrapper-exited')
      }, WATCH_MS)
      timer.unref()
    }
  })
}

interface Proc {
  readonly pid: number
  readonly start: string
}

/** The nearest ancestor that is npm (`npm exec`, `npx`, `npm run`), when there is one (Linux /proc). */
export function npmWrapper(): Proc | undefined {
  let pid = process.ppid
  for (let depth = 0; depth < 16 && pid > 1; depth++) {
    const st = stat(pid)
    if (!st) return undefined
    if (isNpm(pid)) return { pid, start: st.start }
    pid = st.ppid
  }
  return undefined
}

function isNpm(pid: number): boolean {
  let argv: string[]
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')
  } catch {
    return false
  }
  // npm sets its title to "npm exec ...", "npm run ...", "npx ..."; before that argv names npm-cli.js
  const first = argv[0] ?? ''
  return /^(npm|npx)( |$)/.test(first) || argv.some((a) => /(^|\/)(npm|npx)-cli\.js$/.test(a))
}

function stat(pid: number): { state: string; ppid: number; start: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1')
    // fields after the command name (which may hold spaces and parentheses): state ppid ... starttime(22)
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return { state: f[0] ?? '', ppid: Number(f[1]), start: f[19] ?? '' }
  } catch {
    return undefined
  }
}

function alive(p: Proc): boolean {
  try {
    process.kill(p.pid, 0)
  } catch {
    return false
  }
  const st = stat(p.pid)
  // a zombie (killed, not yet reaped by its shell) has ended; a reused pid is another process
  return st !== undefined && st.state !== 'Z' && st.start === p.start
}

/** The `--log-format` flag of `ward kms serve` and `ward host serve`. */
export const logFormatFlag = choice(
  ['json', 'pretty'],
  `log format (default: pretty on a terminal, json otherwise; or ${LOG_FORMAT_ENV})`,
)

/** The log format from --log-format, else WARD_LOG_FORMAT, else whether stdout is a terminal. */
export function logFormatOf(flag: LogFormat | undefined): LogFormat {
  const env = process.env[LOG_FORMAT_ENV]
  const f = chooseLogFormat({ flag, env, isTTY: process.stdout.isTTY })
  if (f === undefined)
    throw new CliError(
      'ERR_CLI_USAGE',
      `${LOG_FORMAT_ENV} must be json or pretty (got ${env}); unset it or fix it`,
    )
  return f
}
