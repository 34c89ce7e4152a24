import { ObjectType, Operation, QueryFunction, en, findAll, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'

/** Filled in by the registry (avoids an import cycle). */
export const advertised: { ops: number[] } = { ops: [] }

export const VENDOR = 'Ward'

/** KMIP 1.4 §4.25 Query: operations, object types, server information. */
export const query = defineOperation({
  code: Operation.Query,
  privilege: 'query',
  async run(ctx, payload) {
    const fns = new Set(findAll(payload, Tag.QueryFunction).map((f) => Number(f.value)))
    const is2 = ctx.major >= 2
    const objectTypes = is2
      ? [
          ObjectType.Certificate,
          ObjectType.SymmetricKey,
          ObjectType.PublicKey,
          ObjectType.PrivateKey,
          ObjectType.SplitKey,
          ObjectType.SecretData,
          ObjectType.OpaqueObject,
          ObjectType.PGPKey,
        ]
      : [
          ObjectType.Certificate,
          ObjectType.SymmetricKey,
          ObjectType.PublicKey,
          ObjectType.PrivateKey,
          ObjectType.SplitKey,
          ObjectType.Template,
          ObjectType.SecretData,
          ObjectType.OpaqueObject,
        ]
    return {
      payload: s(Tag.ResponsePayload, [
        ...(fns.has(QueryFunction.QueryOperations)
          ? advertised.ops
              .filter((o) => is2 || o !== Operation.SetAttribute)
              .map((o) => en(Tag.Operation, o))
          : []),
        ...(fns.has(QueryFunction.QueryObjects)
          ? objectTypes.map((t) => en(Tag.ObjectType, t))
          : []),
        ...(fns.has(QueryFunction.QueryServerInformation)
          ? [
              text(Tag.VendorIdentification, VENDOR),
              s(Tag.ServerInformation, [
                text(is2 ? Tag.ServerName : Tag.VendorIdentification, 'Ward KMS 0.1.0'),
              ]),
            ]
          : []),
      ]),
    }
  },
})
