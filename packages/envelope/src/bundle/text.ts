import { EnvelopeError } from '../errors.js'
import { BUNDLE_MAX_BYTES } from './layout.js'

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Bundle bytes as standard base64, for the VM configuration. */
export function bundleToBase64(bundle: Uint8Array): string {
  return Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength).toString('base64')
}

/**
 * Strict base64 decoding for a bundle read from a VM configuration (Node's own decoder silently
 * skips invalid characters). Bad text is `ERR_BUNDLE_FORMAT`.
 */
export function bundleFromBase64(text: string): Uint8Array {
  if (
    typeof text !== 'string' ||
    text.length > ((BUNDLE_MAX_BYTES + 1024) * 4) / 3 + 4 ||
    !B64.test(text)
  )
    throw new EnvelopeError('ERR_BUNDLE_FORMAT', 'the key bundle is not valid base64')
  return new Uint8Array(Buffer.from(text, 'base64'))
}
