/** Refusals shared by several operations (their Result Reason comes from the error table). */
import { KmsError } from '../errors.js'

/** An operation refused in the object's current state (2.x has its own Result Reason). */
export const stateError = (message: string): KmsError =>
  new KmsError('ERR_KMS_WRONG_STATE', message)

/**
 * The key's Cryptographic Usage Mask does not allow the operation: KMIP 2.1 has its own reason
 * (Incompatible Cryptographic Usage Mask, §6.1.17.1 Encrypt … §6.1.19.1 Get errors); 1.x says
 * Permission Denied.
 */
export const usageMaskError = (message: string): KmsError =>
  new KmsError('ERR_KMS_USAGE_MASK', message)
