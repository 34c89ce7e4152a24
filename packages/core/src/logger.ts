import { createRequire } from 'node:module'
import type { Logger, DestinationStream } from 'pino'

export type { Logger }

export interface LoggerOptions {
  readonly level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Where JSON lines go (default stdout). Tests pass a capture stream. */
  readonly destination?: DestinationStream
  /**
   * `json` (default): one JSON object a line, for collectors. `pretty`: Ward's one-line form for
   * people at a terminal (see formatLogLine; redaction applies before either form).
   */
  readonly format?: LogFormat
}

export type LogFormat = 'json' | 'pretty'

/** The environment variable that picks the log format when no flag does (json|pretty). */
export const LOG_FORMAT_ENV = 'WARD_LOG_FORMAT'

/**
 * The log format of a server: the flag (`--log-format`) if given, else WARD_LOG_FORMAT, else
 * `pretty` when the output is a terminal and `json` otherwise (a pipe, a file, journald). An
 * unknown value is undefined: the caller reports it as a usage error.
 */
export function chooseLogFormat(opts: {
  readonly flag?: string | undefined
  readonly env?: string | undefined
  readonly isTTY?: boolean | undefined
}): LogFormat | undefined {
  const given = opts.flag ?? (opts.env === '' ? undefined : opts.env)
  if (given !== undefined) return given === 'json' || given === 'pretty' ? given : undefined
  return opts.isTTY === true ? 'pretty' : 'json'
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
/** Fields the one-line form prints in its own places, or not at all. */
const OWN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'component', 'msg'])

const quote = (v: string): string => (/^[^\s"=]+$/.test(v) ? v : JSON.stringify(v))
const flat = (prefix: string, v: unknown, out: string[]): void => {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, c] of Object.entries(v as Record<string, unknown>))
      if (c !== undefined) flat(prefix === '' ? k : `${prefix}.${k}`, c, out)
  } else out.push(`${prefix}=${typeof v === 'string' ? quote(v) : JSON.stringify(v)}`)
}

/**
 * One pino JSON record as one readable line: `HH:MM:SS.mmm LEVEL component: message k=v …`
 * (nested fields dotted, strings quoted when they hold spaces). A line that is not a JSON object
 * is returned as it is.
 */
export function formatLogLine(json: string): string {
  let o: unknown
  try {
    o = JSON.parse(json)
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    return json.endsWith('\n') ? json : `${json}\n`
  const r = o as Record<string, unknown>
  const t = typeof r['time'] === 'number' ? new Date(r['time']).toISOString().slice(11, 23) : ''
  const level = typeof r['level'] === 'number' ? (LEVELS[r['level']] ?? String(r['level'])) : ''
  const comp = r['component'] ?? r['name']
  const fields: string[] = []
  for (const [k, v] of Object.entries(r)) if (!OWN.has(k) && v !== undefined) flat(k, v, fields)
  const msg = typeof r['msg'] === 'string' ? r['msg'] : ''
  const head = [t, level.padEnd(5), typeof comp === 'string' ? `${comp}:` : ''].filter(Boolean)
  return `${[...head, msg, ...fields].filter((x) => x !== '').join(' ')}\n`
}

/** A destination that writes each JSON record through formatLogLine. */
function prettyStream(dest: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      let text = ''
      for (const line of chunk.split('\n')) if (line !== '') text += formatLogLine(line)
      return dest.write(text)
    },
  } as DestinationStream
}

/**
 * The one logger factory. Logs carry ids, algorithm names, sizes and outcomes; never key bytes,
 * plaintext, wrapped keys, tokens or passwords. `redact` is a backstop, not the method.
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const { pino, destination } = loadPino()
  const dest = options.destination ?? destination({ fd: 1, sync: false })
  return pino(
    {
      name: component,
      level: options.level ?? 'info',
      base: { component },
      redact: {
        paths: [
          'key',
          'kek',
          'dek',
          'passphrase',
          'password',
          'token',
          'secret',
          '*.key',
          '*.passphrase',
          '*.password',
          '*.token',
        ],
        censor: '[redacted]',
      },
      serializers: { err: serializeError },
    },
    options.format === 'pretty' ? prettyStream(dest) : dest,
  )
}

type Pino = typeof import('pino')
let pinoModule: Pino | undefined

/*
 * pino is loaded on the first createLogger call, not when @ward/core is imported: every command
 * imports @ward/core, most never log, and loading pino is a large part of a short CLI run's
 * start-up (figure: bench/README.md, "Figures from source comments"). It is
 * CommonJS, so a synchronous require keeps createLogger synchronous.
 */
function loadPino(): Pino {
  pinoModule ??= createRequire(import.meta.url)('pino') as Pino
  return pinoModule
}

/** Errors are logged by code and message only: no stack frames carrying data, no `cause` values. */
function serializeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: String(e) }
  const code = (e as { code?: unknown }).code
  return { type: e.name, code: typeof code === 'string' ? code : undefined, message: e.message }
}
