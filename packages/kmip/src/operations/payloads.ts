/** Every operation Ward speaks (client and server), by KMIP Operation code: its two payloads. */
import { Operation } from '../tables/enums.js'
import type { StructField } from '../schema/dsl.js'
import * as edits from './attribute-edits.js'
import * as crypto from './cryptography.js'
import * as lifecycle from './lifecycle.js'
import * as retrieval from './retrieval.js'
import * as server from './server.js'

export interface OperationPayloads {
  readonly request: StructField
  readonly response: StructField
}

const pair = (request: StructField, response: StructField): OperationPayloads => ({
  request,
  response,
})

export const operationPayloads: ReadonlyMap<number, OperationPayloads> = new Map([
  [Operation.Create, pair(lifecycle.CreateRequest, lifecycle.CreateResponse)],
  [Operation.CreateKeyPair, pair(lifecycle.CreateKeyPairRequest, lifecycle.CreateKeyPairResponse)],
  [Operation.Register, pair(lifecycle.RegisterRequest, lifecycle.RegisterResponse)],
  [Operation.ReKey, pair(lifecycle.ReKeyRequest, lifecycle.ReKeyResponse)],
  [Operation.Check, pair(lifecycle.CheckRequest, lifecycle.CheckResponse)],
  [Operation.Activate, pair(lifecycle.ActivateRequest, lifecycle.ActivateResponse)],
  [Operation.Revoke, pair(lifecycle.RevokeRequest, lifecycle.RevokeResponse)],
  [Operation.Destroy, pair(lifecycle.DestroyRequest, lifecycle.DestroyResponse)],
  [Operation.Locate, pair(retrieval.LocateRequest, retrieval.LocateResponse)],
  [Operation.Get, pair(retrieval.GetRequest, retrieval.GetResponse)],
  [Operation.GetAttributes, pair(retrieval.GetAttributesRequest, retrieval.GetAttributesResponse)],
  [
    Operation.GetAttributeList,
    pair(retrieval.GetAttributeListRequest, retrieval.GetAttributeListResponse),
  ],
  [Operation.AddAttribute, pair(edits.AddAttributeRequest, edits.AddAttributeResponse)],
  [Operation.ModifyAttribute, pair(edits.ModifyAttributeRequest, edits.ModifyAttributeResponse)],
  [Operation.SetAttribute, pair(edits.SetAttributeRequest, edits.SetAttributeResponse)],
  [Operation.DeleteAttribute, pair(edits.DeleteAttributeRequest, edits.DeleteAttributeResponse)],
  [Operation.Encrypt, pair(crypto.EncryptRequest, crypto.EncryptResponse)],
  [Operation.Decrypt, pair(crypto.DecryptRequest, crypto.DecryptResponse)],
  [Operation.Sign, pair(crypto.SignRequest, crypto.SignResponse)],
  [Operation.SignatureVerify, pair(crypto.SignatureVerifyRequest, crypto.SignatureVerifyResponse)],
  [Operation.MAC, pair(crypto.MACRequest, crypto.MACResponse)],
  [Operation.MACVerify, pair(crypto.MACVerifyRequest, crypto.MACVerifyResponse)],
  [Operation.RNGRetrieve, pair(crypto.RNGRetrieveRequest, crypto.RNGRetrieveResponse)],
  [Operation.Hash, pair(crypto.HashRequest, crypto.HashResponse)],
  [
    Operation.DiscoverVersions,
    pair(server.DiscoverVersionsRequest, server.DiscoverVersionsResponse),
  ],
  [Operation.Query, pair(server.QueryRequest, server.QueryResponse)],
  [Operation.Interop, pair(server.InteropRequest, server.InteropResponse)],
  [Operation.Log, pair(server.LogRequest, server.LogResponse)],
])
