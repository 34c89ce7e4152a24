import { constants, verify as nodeVerify } from 'node:crypto'
import { invalidField } from '../errors.js'
import { withMaterial } from '../model/object.js'
import { publicKeyObject } from '../model/material.js'
import {
  CryptographicUsageMask,
  ObjectType,
  Operation,
  SignatureVerifyRequest,
  SignatureVerifyResponse,
  ValidityIndicator,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, sigOptions } from './crypto-params.js'
import { PROCESS, checkDataSize, requiredInput, usable } from './key-usage.js'

/** KMIP 1.4 §4.32 Signature Verify. */
export const signatureVerify = defineOperation({
  code: Operation.SignatureVerify,
  privilege: 'signature-verify',
  since: [1, 2],
  request: SignatureVerifyRequest,
  response: SignatureVerifyResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'signature-verify',
      usageMask: CryptographicUsageMask.Verify,
      states: PROCESS,
      purpose: 'process',
    })
    if (o.objectType !== ObjectType.PublicKey)
      throw invalidField('Signature Verify needs a public key')
    const { hash, padding } = sigOptions(params(o, request.cryptographicParameters))
    const d = checkDataSize(request.data)
    const sig = requiredInput(request.signatureData, Tag.SignatureData)
    const ok = withMaterial(ctx, o, (m) => {
      const key = publicKeyObject(m)
      try {
        return nodeVerify(
          hash,
          d,
          padding !== undefined
            ? { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }
            : key,
          sig,
        )
      } catch {
        return false
      }
    })
    return {
      objectId: o.id,
      payload: {
        uniqueIdentifier: o.id,
        validityIndicator: ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid,
      },
    }
  },
})
