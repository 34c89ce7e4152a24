import { CodedError } from '@ward/core'
import type { ErrorInfo } from '@ward/core'

/**
 * The codes of the CLI itself (documented in docs/errors/core.md). The packages' own errors pass
 * through with their codes; `ERR_CLI_USAGE` is the one usage error of the whole CLI (exit 2).
 */
export const cliErrors = {
  ERR_CLI_USAGE: { kind: 'usage' },
  ERR_ENVELOPE_NOT_WARD: { kind: 'input' },
} as const satisfies Record<`ERR_${string}`, ErrorInfo>

/** A code of {@link cliErrors}. */
export type CliErrorCode = keyof typeof cliErrors

/** An error of the CLI: a usage error, or a file the CLI cannot handle. */
export class CliError extends CodedError {
  readonly code: CliErrorCode
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: CliErrorCode,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}
