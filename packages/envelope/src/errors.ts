/** Envelope errors: same shape as @ward/core's CodedError, without importing it (zero-dependency core). */
export class EnvelopeError extends Error {
  readonly code: `ERR_${string}`
  readonly expose = false
  constructor(code: `ERR_${string}`, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'EnvelopeError'
    this.code = code
  }
}
