import { pino, destination, type Logger, type DestinationStream } from 'pino'

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

/** Errors are logged by code and message only: no stack frames carrying data, no `cause` values. */
function serializeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: String(e) }
  const code = (e as { code?: unknown }).code
  return { type: e.name, code: typeof code === 'string' ? code : undefined, message: e.message }
}
