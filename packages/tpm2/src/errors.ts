/**
 * Errors of the TPM 2.0 core. Same shape as @ward/core's CodedError (`code`, `expose = false`,
 * optional `cause`) without importing it: protocol cores depend on Node only.
 */

/** What kind of failure a code is: the words of @ward/core's `errorKinds` (the docs test checks every row). */
export type TpmErrorKind =
  | 'usage'
  | 'input'
  | 'not-found'
  | 'conflict'
  | 'state'
  | 'denied'
  | 'integrity'
  | 'unsupported'
  | 'limit'
  | 'io'
  | 'timeout'
  | 'internal'

/** Every code of @ward/tpm2 → its kind (documented in docs/errors/tpm2.md). */
export const tpmErrors = {
  ERR_TPM_RC: { kind: 'io' },
  ERR_TPM_DECODE: { kind: 'input' },
  ERR_TPM_ENCODE: { kind: 'usage' },
  ERR_TPM_ARG: { kind: 'usage' },
  ERR_TPM_ALG: { kind: 'unsupported' },
  ERR_TPM_TRANSPORT: { kind: 'io' },
  ERR_TPM_TIMEOUT: { kind: 'timeout' },
  ERR_TPM_SWTPM: { kind: 'io' },
  ERR_TPM_RESPONSE_HMAC: { kind: 'integrity' },
  ERR_TPM_QUOTE: { kind: 'integrity' },
  ERR_TPM_PCR_BANK: { kind: 'unsupported' },
  ERR_TPM_NO_EK_CERT: { kind: 'not-found' },
  ERR_TPM_EVENTLOG: { kind: 'input' },
} as const satisfies Record<`ERR_TPM_${string}`, { readonly kind: TpmErrorKind }>

/** A code of {@link tpmErrors}. */
export type TpmErrorCode = keyof typeof tpmErrors

/** Every intentional failure of this package. */
export class TpmError extends Error {
  readonly code: TpmErrorCode
  /** May `message` reach a remote peer? Never for TPM internals. */
  readonly expose: boolean = false
  constructor(code: TpmErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Malformed bytes from the TPM, a file or a peer: the decoder refused them. */
export class TpmDecodeError extends TpmError {
  readonly offset: number
  constructor(message: string, offset: number, code: TpmErrorCode = 'ERR_TPM_DECODE') {
    super(code, `${message} (at byte ${offset})`)
    this.offset = offset
  }
}

export interface RcSubject {
  readonly kind: 'handle' | 'parameter' | 'session'
  /** 1-based position, as the TPM reports it. */
  readonly index: number
}

/**
 * A TPM response code other than TPM_RC_SUCCESS (Part 2 §6.6). The RC is kept whole and decoded
 * once: `base` strips the format-1 handle/parameter/session bits so it compares with TPM_RC.
 */
export class TpmResponseError extends TpmError {
  readonly rc: number
  readonly base: number
  readonly subject: RcSubject | undefined
  readonly command: string
  constructor(command: string, rc: number) {
    const base = rc & 0x80 ? rc & 0xbf : rc
    const subject = fmt1Subject(rc)
    const where = subject === undefined ? '' : ` on ${subject.kind} ${subject.index}`
    super('ERR_TPM_RC', `${command}: TPM_RC 0x${rc.toString(16)}${where}${rcHint(base)}`)
    this.rc = rc
    this.base = base
    this.subject = subject
    this.command = command
  }
}

/** Part 2 §6.6.3: format-one codes carry the subject in bits 8-11. */
function fmt1Subject(rc: number): RcSubject | undefined {
  if ((rc & 0x80) === 0) return undefined
  const n = (rc >> 8) & 0xf
  if (rc & 0x40) return { kind: 'parameter', index: n }
  if (n === 0) return undefined
  if (n & 0x8) return { kind: 'session', index: n & 0x7 }
  return { kind: 'handle', index: n }
}

const hints: Readonly<Record<number, string>> = {
  0x100: ': TPM not started (send TPM2_Startup)',
  0x101: ': TPM in failure mode or stopped (power it on: CMD_INIT)',
  0x14c: ': NV index already defined',
  0x902: ': no free object slot (flush transient objects)',
  0x903: ': no free session slot (flush sessions)',
  0x09d: ': policy check failed (for a PCR policy: PCR values differ from the sealed ones)',
  0x08e: ': authorization failed (wrong auth value)',
  0x921: ': TPM in DA lockout',
  0x922: ': TPM busy, retry',
}

function rcHint(base: number): string {
  return hints[base] ?? ''
}
