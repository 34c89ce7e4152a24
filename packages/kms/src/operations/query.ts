import { ObjectType, Operation, QueryFunction, bool, en, findAll, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'

export const VENDOR = 'Ward'

/** KMIP 1.4 §4.25 Query: operations, object types, server information, capabilities (1.3+). */
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
          ? [...ctx.runtime.operations.keys()]
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
        // KMIP 1.4 §2.1.25 Capability Information: streamed Encrypt/Decrypt/Sign (Init Indicator),
        // Batch Undo and Continue; no asynchronous operations or attestation.
        ...(fns.has(QueryFunction.QueryCapabilities) && (ctx.major >= 2 || ctx.minor >= 3)
          ? [
              s(Tag.CapabilityInformation, [
                bool(Tag.StreamingCapability, true),
                bool(Tag.AsynchronousCapability, false),
                bool(Tag.AttestationCapability, false),
                bool(Tag.BatchUndoCapability, true),
                bool(Tag.BatchContinueCapability, true),
              ]),
            ]
          : []),
      ]),
    }
  },
})
