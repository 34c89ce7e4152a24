import { createRequire } from 'node:module'
import type { Logger, DestinationStream } from 'pino'

export type { Logger }

export interface LoggerOptions {
  readonly level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Where JSON lines go (default stdout). Tests pass a capture stream. */
  readonly destination?: DestinationStream
}

/**
 * The one logger factory. Logs carry ids, algorithm names, sizes and outcomes; never key bytes,
 * plaintext, wrapped keys, tokens or passwords. `redact` is a backstop, not the method.
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const { pino, destination } = loadPino()
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
    options.destination ?? destination({ fd: 1, sync: false }),
  )
}

type Pino = typeof import('pino')
let pinoModule: Pino | undefined

/*
 * pino is loaded on the first createLogger call, not when @ward/core is imported: every command
 * imports @ward/core, most never log, and loading pino costs ~9 ms of each CLI run. It is
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
