/**
 * Coded errors: every intentional failure carries a stable `code` (`ERR_<AREA>_<WHAT>`).
 * The message stays in our logs; remote peers see `code` only unless `expose` is true.
 */
export abstract class CodedError extends Error {
  abstract readonly code: `ERR_${string}`
  /** May `message` reach a remote peer? Default no: peers get `code` + request id. */
  readonly expose: boolean = false
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A generic coded error for cases that do not deserve their own class. */
export class WardError extends CodedError {
  readonly code: `ERR_${string}`
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: `ERR_${string}`,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}

/** True for any error carrying a Ward-style `code` (CodedError, or a protocol-core error of the same shape). */
export function isCodedError(e: unknown): e is Error & { code: `ERR_${string}` } {
  return (
    e instanceof Error &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as unknown as { code: string }).code.startsWith('ERR_')
  )
}

export class SecretDisposedError extends CodedError {
  readonly code = 'ERR_SECRET_DISPOSED'
  constructor() {
    super('secret was already disposed')
  }
}

export class ConfigError extends CodedError {
  readonly code = 'ERR_CONFIG_INVALID'
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.problems = problems
  }
}

export class SecretFileError extends CodedError {
  readonly code = 'ERR_SECRET_FILE'
  readonly path: string
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options)
    this.path = path
  }
}
