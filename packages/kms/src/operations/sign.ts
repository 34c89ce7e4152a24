import { constants, sign as nodeSign } from 'node:crypto'
import { invalidField } from '../errors.js'
import { withMaterial } from '../model/object.js'
import { privateKeyObject } from '../model/material.js'
import {
  CryptographicUsageMask,
  ObjectType,
  Operation,
  SignRequest,
  SignResponse,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, sigOptions } from './crypto-params.js'
import { ACTIVE, checkDataSize, consumeUsage, usable } from './key-usage.js'

/** KMIP 1.4 §4.31 Sign. */
export const sign = defineOperation({
  code: Operation.Sign,
  privilege: 'sign',
  since: [1, 2],
  request: SignRequest,
  response: SignResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'sign',
      usageMask: CryptographicUsageMask.Sign,
      states: ACTIVE,
      purpose: 'protect',
    })
    if (o.objectType !== ObjectType.PrivateKey) throw invalidField('Sign needs a private key')
    const { hash, padding } = sigOptions(params(o, request.cryptographicParameters))
    const d = checkDataSize(request.data)
    await consumeUsage(ctx, o, d.length)
    const sig = withMaterial(ctx, o, (m) => {
      const key = privateKeyObject(m)
      return nodeSign(
        hash,
        d,
        padding !== undefined
          ? { key, padding, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : key,
      )
    })
    return { objectId: o.id, payload: { uniqueIdentifier: o.id, signatureData: sig } }
  },
})
