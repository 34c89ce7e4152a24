/**
 * Coded errors: every intentional failure carries a stable `code` (`ERR_<AREA>_<WHAT>`).
 * The message stays in our logs; remote peers see `code` only unless `expose` is true.
 *
 * Each package declares its codes once, as a closed table `code → { kind, ... }` (`as const` +
 * `satisfies`); its error classes accept only codes of that table, and a test checks every table
 * against docs/errors/ in both directions.
 */

/**
 * What kind of failure a code is, the same words in every package (the protocol cores, which do
 * not import this package, spell the same union; the docs test checks every table against it).
 */
export const errorKinds = [
  /** The caller's request is malformed: a flag, argument, option or configuration value. */
  'usage',
  /** Data from a peer, a file or a device is malformed or out of bounds. */
  'input',
  /** What was asked for does not exist. */
  'not-found',
  /** What would be created already exists, or another process holds it. */
  'conflict',
  /** The object or system is in a state that does not allow the operation. */
  'state',
  /** Refused by an access rule or a security policy. */
  'denied',
  /** An authentication tag, checksum or key check failed: wrong key, or tampered data. */
  'integrity',
  /** A feature or format this implementation does not offer. */
  'unsupported',
  /** A resource bound (size, count, rate) was reached. */
  'limit',
  /** The file system, network or a peer failed. */
  'io',
  /** Something did not answer in time. */
  'timeout',
  /** A fault of this program: report it. */
  'internal',
] as const

/** One of {@link errorKinds}. */
export type ErrorKind = (typeof errorKinds)[number]

/** One row of a package's error table. */
export interface ErrorInfo {
  readonly kind: ErrorKind
}

/** The codes of @ward/core (documented in docs/errors/core.md). */
export const coreErrors = {
  ERR_SECRET_DISPOSED: { kind: 'internal' },
  ERR_CONFIG_INVALID: { kind: 'usage' },
  ERR_SECRET_FILE: { kind: 'usage' },
  ERR_FILE_EXISTS: { kind: 'conflict' },
} as const satisfies Record<`ERR_${string}`, ErrorInfo>

/** A code of {@link coreErrors}. */
export type CoreErrorCode = keyof typeof coreErrors

export abstract class CodedError extends Error {
  abstract readonly code: `ERR_${string}`
  /** May `message` reach a remote peer? Default no: peers get `code` + request id. */
  readonly expose: boolean = false
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A coded error of @ward/core for cases that do not deserve their own class. */
export class WardError extends CodedError {
  readonly code: CoreErrorCode
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: CoreErrorCode,
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
  readonly code = 'ERR_SECRET_DISPOSED' satisfies CoreErrorCode
  constructor() {
    super('secret was already disposed')
  }
}

export class ConfigError extends CodedError {
  readonly code = 'ERR_CONFIG_INVALID' satisfies CoreErrorCode
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.problems = problems
  }
}

export class SecretFileError extends CodedError {
  readonly code = 'ERR_SECRET_FILE' satisfies CoreErrorCode
  readonly path: string
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(`${path}: ${message}`, options)
    this.path = path
  }
}
