import {
  ObjectType,
  Operation,
  QueryFunction,
  QueryRequest,
  QueryResponse,
  isV2,
  structure,
  text,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'

export const VENDOR = 'Ward'

/** KMIP 1.4 §4.25 Query: operations, object types, server information, capabilities (1.3+). */
export const query = defineOperation({
  code: Operation.Query,
  privilege: 'query',
  request: QueryRequest,
  response: QueryResponse,
  async handle(ctx, request) {
    const fns = new Set(request.queryFunctions)
    const is2 = isV2(ctx)
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
    const capabilities = fns.has(QueryFunction.QueryCapabilities) && (is2 || ctx.minor >= 3)
    return {
      payload: {
        operations: fns.has(QueryFunction.QueryOperations)
          ? [...ctx.runtime.operations.keys()].filter((o) => is2 || o !== Operation.SetAttribute)
          : [],
        objectTypes: fns.has(QueryFunction.QueryObjects) ? objectTypes : [],
        ...(fns.has(QueryFunction.QueryServerInformation) && {
          vendorIdentification: VENDOR,
          serverInformation: structure(Tag.ServerInformation, [
            text(is2 ? Tag.ServerName : Tag.VendorIdentification, 'Ward KMS 0.1.0'),
          ]),
        }),
        // KMIP 1.4 §2.1.25 Capability Information: streamed Encrypt/Decrypt/Sign (Init
        // Indicator), Batch Undo and Continue; no asynchronous operations or attestation.
        capabilityInformation: capabilities
          ? [
              {
                streamingCapability: true,
                asynchronousCapability: false,
                attestationCapability: false,
                batchUndoCapability: true,
                batchContinueCapability: true,
              },
            ]
          : [],
      },
    }
  },
})
