export { EnvelopeError } from './errors.js'
export { wrapKw, unwrapKw, wrapKwp, unwrapKwp } from './keywrap/keywrap.js'
export { xtsEncryptSectors, xtsDecryptSectors } from './xts/xts.js'
