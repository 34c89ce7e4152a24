import { constants, sign as nodeSign } from 'node:crypto'
import { invalidField } from '../errors.js'
import { withMaterial } from '../model/object.js'
import { privateKeyObject } from '../model/material.js'
import { ObjectType, Operation, CryptographicUsageMask, bytes, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, usable, data, ACTIVE, sigOptions, consumeUsage } from './crypto-common.js'

/** KMIP 1.4 §4.31 Sign. */
export const sign = defineOperation({
  code: Operation.Sign,
  privilege: 'sign',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'sign', CryptographicUsageMask.Sign, ACTIVE, 'protect')
    if (o.objectType !== ObjectType.PrivateKey) throw invalidField('Sign needs a private key')
    const { hash, padding } = sigOptions(params(o, payload))
    const d = data(payload)
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
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        bytes(Tag.SignatureData, sig),
      ]),
    }
  },
})
