import { constants, verify as nodeVerify } from 'node:crypto'
import { invalidField } from '../errors.js'
import { withMaterial } from '../model/object.js'
import { publicKeyObject } from '../model/material.js'
import {
  ObjectType,
  Operation,
  CryptographicUsageMask,
  ValidityIndicator,
  en,
  req,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, usable, data, PROCESS, sigOptions } from './crypto-common.js'

/** KMIP 1.4 §4.32 Signature Verify. */
export const signatureVerify = defineOperation({
  code: Operation.SignatureVerify,
  privilege: 'signature-verify',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(
      ctx,
      payload,
      'signature-verify',
      CryptographicUsageMask.Verify,
      PROCESS,
      'process',
    )
    if (o.objectType !== ObjectType.PublicKey)
      throw invalidField('Signature Verify needs a public key')
    const { hash, padding } = sigOptions(params(o, payload))
    const d = data(payload)
    const sig = req(payload, Tag.SignatureData, 'ByteString')
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
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        en(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
      ]),
    }
  },
})
