import { KmipError } from '../errors.js'
import { attributeTag, type KmipAttribute } from '../message/attributes.js'
import { isV2, type ProtocolVersion } from '../message/version.js'
import * as edits from '../operations/attribute-edits.js'
import * as crypto from '../operations/cryptography.js'
import * as lifecycle from '../operations/lifecycle.js'
import * as objects from '../operations/objects.js'
import * as retrieval from '../operations/retrieval.js'
import * as server from '../operations/server.js'
import type { CryptographicParameters } from '../operations/structures.js'
import { decodeStructure, encodeStructure } from '../schema/codec.js'
import type { PayloadInput, PayloadOf, StructField } from '../schema/dsl.js'
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  RevocationReasonCode,
  ValidityIndicator,
} from '../tables/enums.js'
import { Tag } from '../tables/tags.js'
import { bytes, enumeration, int } from '../ttlv/build.js'
import type { TtlvItem } from '../ttlv/item.js'
import { find } from '../ttlv/read.js'
import { KmipTransport, payloadOf, type BatchRequest, type KmipClientOptions } from './client.js'

/** Cryptographic Parameters (KMIP 1.4 §2.1.5), as operations/structures.ts declares them. */
export type CryptoParams = PayloadInput<typeof CryptographicParameters>

/** Key material and its description as returned by Get. Callers must zero `keyMaterial` after use
 * (wrap it in a Secret at once). */
export interface KmipObject {
  readonly uniqueIdentifier: string
  readonly objectType: number
  readonly keyFormatType?: number
  readonly cryptographicAlgorithm?: number
  readonly cryptographicLength?: number
  /** Raw/opaque key bytes (Byte String Key Material), when the format has them. */
  readonly keyMaterial?: Uint8Array
  /** The whole object structure (Symmetric Key, Private Key...) as received. */
  readonly object: TtlvItem
}

/** Query answer (KMIP 1.4 §4.25). */
export interface QueryResult {
  readonly operations: number[]
  readonly objectTypes: number[]
  readonly vendorIdentification?: string
  readonly serverInformation?: TtlvItem
  readonly payload: TtlvItem
}

/** Builds a Name attribute (KMIP 1.4 §3.2). */
export function nameAttribute(name: string): KmipAttribute {
  return {
    name: 'Name',
    value: encodeStructure(
      objects.Name,
      { nameValue: name, nameType: NameType.UninterpretedTextString },
      ANY,
    ),
  }
}

/** Attribute values and objects read alike in every version. */
const ANY: ProtocolVersion = { major: 1, minor: 4 }

/** Simple attribute from a spec name and a scalar item builder result. */
function a(name: string, item: TtlvItem): KmipAttribute {
  return { name, value: { ...item, tag: attributeTag(name) ?? Tag.AttributeValue } as TtlvItem }
}

/**
 * Typed KMIP client: one method per operation, each building its request and reading its response
 * through the payload declarations of ../operations/ (1.x Template-Attribute vs 2.x Attributes
 * follow the connection's version), failover and pooling from {@link KmipTransport}. KMIP
 * failures throw ERR_KMIP_RESULT with the server's `resultReason`.
 */
export class KmipClient {
  readonly transport: KmipTransport
  constructor(options: KmipClientOptions) {
    this.transport = new KmipTransport(options)
  }

  get version(): ProtocolVersion {
    return this.transport.version
  }

  /** Closes pooled connections. */
  close(): void {
    this.transport.close()
  }

  /** Sends several operations in one message (Batch Count > 1, Unique Batch Item IDs). */
  async batch(items: readonly BatchRequest[]): Promise<TtlvItem[]> {
    const rs = await this.transport.send(items)
    return rs.map(payloadOf)
  }

  /** One operation: the request encoded and the response decoded by their declarations. */
  async #call<Q extends StructField, R extends StructField>(
    operation: number,
    request: Q,
    response: R,
    input: PayloadInput<Q>,
  ): Promise<PayloadOf<R>> {
    const v = this.transport.version
    const p = await this.transport.call(operation, encodeStructure(request, input, v))
    return decodeStructure(response, p, v)
  }

  /** Discover Versions (KMIP 1.4 §4.26): versions the server supports, highest first. */
  async discoverVersions(versions: readonly ProtocolVersion[] = []): Promise<ProtocolVersion[]> {
    const r = await this.#call(
      Operation.DiscoverVersions,
      server.DiscoverVersionsRequest,
      server.DiscoverVersionsResponse,
      { protocolVersions: versions },
    )
    return r.protocolVersions
  }

  /** Query (KMIP 1.4 §4.25) with Query Function values. */
  async query(functions: readonly number[]): Promise<QueryResult> {
    const v = this.transport.version
    const p = await this.transport.call(
      Operation.Query,
      encodeStructure(server.QueryRequest, { queryFunctions: functions }, v),
    )
    const r = decodeStructure(server.QueryResponse, p, v)
    return {
      operations: r.operations,
      objectTypes: r.objectTypes,
      ...(r.vendorIdentification !== undefined && {
        vendorIdentification: r.vendorIdentification,
      }),
      ...(r.serverInformation !== undefined && { serverInformation: r.serverInformation }),
      payload: p,
    }
  }

  /** Create a symmetric key (default AES-256, Encrypt|Decrypt). Returns its Unique Identifier. */
  async create(
    o: {
      algorithm?: number
      length?: number
      usageMask?: number
      name?: string
      attributes?: readonly KmipAttribute[]
    } = {},
  ): Promise<string> {
    const attrs: KmipAttribute[] = [
      a('Cryptographic Algorithm', enumeration(0, o.algorithm ?? CryptographicAlgorithm.AES)),
      a('Cryptographic Length', int(0, o.length ?? 256)),
      a(
        'Cryptographic Usage Mask',
        int(0, o.usageMask ?? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      ),
      ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
      ...(o.attributes ?? []),
    ]
    const r = await this.#call(
      Operation.Create,
      lifecycle.CreateRequest,
      lifecycle.CreateResponse,
      {
        objectType: ObjectType.SymmetricKey,
        attributes: attrs,
      },
    )
    return r.uniqueIdentifier
  }

  /** Create Key Pair (KMIP 1.4 §4.2): default RSA-2048, private Sign / public Verify. */
  async createKeyPair(
    o: {
      algorithm?: number
      length?: number
      name?: string
      privateUsageMask?: number
      publicUsageMask?: number
    } = {},
  ): Promise<{ privateKeyId: string; publicKeyId: string }> {
    const mask = (m: number): KmipAttribute[] => [a('Cryptographic Usage Mask', int(0, m))]
    const r = await this.#call(
      Operation.CreateKeyPair,
      lifecycle.CreateKeyPairRequest,
      lifecycle.CreateKeyPairResponse,
      {
        commonAttributes: [
          a('Cryptographic Algorithm', enumeration(0, o.algorithm ?? CryptographicAlgorithm.RSA)),
          a('Cryptographic Length', int(0, o.length ?? 2048)),
          ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
        ],
        privateKeyAttributes: mask(o.privateUsageMask ?? CryptographicUsageMask.Sign),
        publicKeyAttributes: mask(o.publicUsageMask ?? CryptographicUsageMask.Verify),
      },
    )
    return { privateKeyId: r.privateKeyUniqueIdentifier, publicKeyId: r.publicKeyUniqueIdentifier }
  }

  /** Register a symmetric key or secret data given as raw bytes (KMIP 1.4 §4.3). */
  async register(o: {
    objectType?: number
    material: Uint8Array
    algorithm?: number
    length?: number
    usageMask?: number
    name?: string
    secretDataType?: number
  }): Promise<string> {
    const objectType = o.objectType ?? ObjectType.SymmetricKey
    const symmetric = objectType === ObjectType.SymmetricKey
    const keyBlock = {
      keyFormatType: symmetric ? KeyFormatType.Raw : KeyFormatType.Opaque,
      keyValue: encodeStructure(
        objects.KeyValue,
        { keyMaterial: bytes(Tag.KeyMaterial, o.material) },
        ANY,
      ),
      cryptographicAlgorithm: symmetric ? (o.algorithm ?? CryptographicAlgorithm.AES) : undefined,
      cryptographicLength: symmetric ? (o.length ?? o.material.length * 8) : undefined,
    }
    const object =
      objectType === ObjectType.SecretData
        ? encodeStructure(
            objects.SecretData,
            { secretDataType: o.secretDataType ?? 2, keyBlock },
            ANY,
          )
        : encodeStructure(objects.SymmetricKey, { keyBlock }, ANY)
    const r = await this.#call(
      Operation.Register,
      lifecycle.RegisterRequest,
      lifecycle.RegisterResponse,
      {
        objectType,
        attributes: [
          a(
            'Cryptographic Usage Mask',
            int(0, o.usageMask ?? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
          ),
          ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
        ],
        object,
      },
    )
    return r.uniqueIdentifier
  }

  /** Get (KMIP 1.4 §4.11). The key bytes are the caller's to zero. */
  async get(uid: string, o: { keyFormatType?: number } = {}): Promise<KmipObject> {
    const r = await this.#call(Operation.Get, retrieval.GetRequest, retrieval.GetResponse, {
      uniqueIdentifier: uid,
      keyFormatType: o.keyFormatType,
    })
    const object = r.object
    const out: KmipObject = {
      uniqueIdentifier: r.uniqueIdentifier,
      objectType: r.objectType,
      object,
    }
    // Key objects carry a Key Block (Certificates, Opaque Objects... do not)
    const kb = find(object, Tag.KeyBlock)
    if (kb === undefined) return out
    const block = decodeStructure(objects.KeyBlock, kb, ANY)
    const kv = block.keyValue
    const km =
      kv === undefined || kv.type === 'ByteString'
        ? kv
        : decodeStructure(objects.KeyValue, kv, ANY).keyMaterial
    return {
      ...out,
      keyFormatType: block.keyFormatType,
      ...(block.cryptographicAlgorithm !== undefined && {
        cryptographicAlgorithm: block.cryptographicAlgorithm,
      }),
      ...(block.cryptographicLength !== undefined && {
        cryptographicLength: block.cryptographicLength,
      }),
      ...(km?.type === 'ByteString' && { keyMaterial: km.value }),
    }
  }

  /** Get Attributes (KMIP 1.4 §4.12); all attributes when `names` is omitted. */
  async getAttributes(uid: string, names: readonly string[] = []): Promise<KmipAttribute[]> {
    const r = await this.#call(
      Operation.GetAttributes,
      retrieval.GetAttributesRequest,
      retrieval.GetAttributesResponse,
      { uniqueIdentifier: uid, attributeNames: names },
    )
    return r.attributes ?? []
  }

  /** Get Attribute List (KMIP 1.4 §4.13): attribute names. */
  async getAttributeList(uid: string): Promise<string[]> {
    const r = await this.#call(
      Operation.GetAttributeList,
      retrieval.GetAttributeListRequest,
      retrieval.GetAttributeListResponse,
      { uniqueIdentifier: uid },
    )
    return r.attributeNames
  }

  /** Add Attribute (KMIP 1.4 §4.14), e.g. vendor `x-` text attributes. */
  async addAttribute(uid: string, attr: KmipAttribute): Promise<void> {
    await this.#call(
      Operation.AddAttribute,
      edits.AddAttributeRequest,
      edits.AddAttributeResponse,
      {
        uniqueIdentifier: uid,
        attribute: attr,
        newAttribute: { attribute: attr },
      },
    )
  }

  /** Modify Attribute (KMIP 1.4 §4.15). */
  async modifyAttribute(uid: string, attr: KmipAttribute, current?: KmipAttribute): Promise<void> {
    await this.#call(
      Operation.ModifyAttribute,
      edits.ModifyAttributeRequest,
      edits.ModifyAttributeResponse,
      {
        uniqueIdentifier: uid,
        attribute: attr,
        currentAttribute: current !== undefined ? { attribute: current } : undefined,
        newAttribute: { attribute: attr },
      },
    )
  }

  /** Set Attribute (KMIP 2.0+ only). */
  async setAttribute(uid: string, attr: KmipAttribute): Promise<void> {
    if (!isV2(this.transport.version))
      throw new KmipError('ERR_KMIP_INVALID_FIELD', 'Set Attribute needs KMIP 2.0 or later')
    await this.#call(
      Operation.SetAttribute,
      edits.SetAttributeRequest,
      edits.SetAttributeResponse,
      {
        uniqueIdentifier: uid,
        newAttribute: { attribute: attr },
      },
    )
  }

  /** Delete Attribute (KMIP 1.4 §4.16) by name (and 1.x index). */
  async deleteAttribute(uid: string, name: string, index?: number): Promise<void> {
    await this.#call(
      Operation.DeleteAttribute,
      edits.DeleteAttributeRequest,
      edits.DeleteAttributeResponse,
      {
        uniqueIdentifier: uid,
        attributeName: name,
        attributeIndex: index,
        attributeReferences: [name],
      },
    )
  }

  /** Locate (KMIP 1.4 §4.9) by attributes; returns Unique Identifiers. */
  async locate(
    o: { attributes?: readonly KmipAttribute[]; maximumItems?: number; offsetItems?: number } = {},
  ): Promise<string[]> {
    const r = await this.#call(
      Operation.Locate,
      retrieval.LocateRequest,
      retrieval.LocateResponse,
      {
        maximumItems: o.maximumItems,
        offsetItems: o.offsetItems,
        attributes: o.attributes ?? [],
      },
    )
    return r.uniqueIdentifiers
  }

  /** Activate (KMIP 1.4 §4.19). */
  async activate(uid: string): Promise<void> {
    await this.#call(Operation.Activate, lifecycle.ActivateRequest, lifecycle.ActivateResponse, {
      uniqueIdentifier: uid,
    })
  }

  /** Revoke (KMIP 1.4 §4.20). */
  async revoke(
    uid: string,
    o: { reason?: number; message?: string; compromiseOccurrenceDate?: Date } = {},
  ): Promise<void> {
    const when = o.compromiseOccurrenceDate
    await this.#call(Operation.Revoke, lifecycle.RevokeRequest, lifecycle.RevokeResponse, {
      uniqueIdentifier: uid,
      revocationReason: {
        code: o.reason ?? RevocationReasonCode.CessationOfOperation,
        message: o.message,
      },
      compromiseOccurrenceDate:
        when === undefined ? undefined : BigInt(Math.floor(when.getTime() / 1000)),
    })
  }

  /** Destroy (KMIP 1.4 §4.21). */
  async destroy(uid: string): Promise<void> {
    await this.#call(Operation.Destroy, lifecycle.DestroyRequest, lifecycle.DestroyResponse, {
      uniqueIdentifier: uid,
    })
  }

  /** Encrypt (KMIP 1.4 §4.29). */
  async encrypt(
    uid: string,
    data: Uint8Array,
    o: { params?: CryptoParams; iv?: Uint8Array; aad?: Uint8Array } = {},
  ): Promise<{ data: Uint8Array; iv?: Uint8Array; tag?: Uint8Array }> {
    const r = await this.#call(Operation.Encrypt, crypto.EncryptRequest, crypto.EncryptResponse, {
      uniqueIdentifier: uid,
      cryptographicParameters: o.params,
      data,
      ivCounterNonce: o.iv,
      authenticatedEncryptionAdditionalData: o.aad,
    })
    return {
      data: r.data,
      ...(r.ivCounterNonce !== undefined && { iv: r.ivCounterNonce }),
      ...(r.authenticatedEncryptionTag !== undefined && { tag: r.authenticatedEncryptionTag }),
    }
  }

  /** Decrypt (KMIP 1.4 §4.30). The plaintext is the caller's to zero. */
  async decrypt(
    uid: string,
    data: Uint8Array,
    o: { params?: CryptoParams; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array } = {},
  ): Promise<Uint8Array> {
    const r = await this.#call(Operation.Decrypt, crypto.DecryptRequest, crypto.DecryptResponse, {
      uniqueIdentifier: uid,
      cryptographicParameters: o.params,
      data,
      ivCounterNonce: o.iv,
      authenticatedEncryptionAdditionalData: o.aad,
      authenticatedEncryptionTag: o.tag,
    })
    return r.data
  }

  /** MAC (KMIP 1.4 §4.33). */
  async mac(uid: string, data: Uint8Array, params?: CryptoParams): Promise<Uint8Array> {
    const r = await this.#call(Operation.MAC, crypto.MACRequest, crypto.MACResponse, {
      uniqueIdentifier: uid,
      cryptographicParameters: params,
      data,
    })
    return r.macData
  }

  /** MAC Verify (KMIP 1.4 §4.34): true when Valid. */
  async macVerify(
    uid: string,
    data: Uint8Array,
    macData: Uint8Array,
    params?: CryptoParams,
  ): Promise<boolean> {
    const r = await this.#call(
      Operation.MACVerify,
      crypto.MACVerifyRequest,
      crypto.MACVerifyResponse,
      { uniqueIdentifier: uid, cryptographicParameters: params, data, macData },
    )
    return r.validityIndicator === ValidityIndicator.Valid
  }

  /** Sign (KMIP 1.4 §4.31). */
  async sign(uid: string, data: Uint8Array, params?: CryptoParams): Promise<Uint8Array> {
    const r = await this.#call(Operation.Sign, crypto.SignRequest, crypto.SignResponse, {
      uniqueIdentifier: uid,
      cryptographicParameters: params,
      data,
    })
    return r.signatureData
  }

  /** Signature Verify (KMIP 1.4 §4.32): true when Valid. */
  async signatureVerify(
    uid: string,
    data: Uint8Array,
    signature: Uint8Array,
    params?: CryptoParams,
  ): Promise<boolean> {
    const r = await this.#call(
      Operation.SignatureVerify,
      crypto.SignatureVerifyRequest,
      crypto.SignatureVerifyResponse,
      { uniqueIdentifier: uid, cryptographicParameters: params, data, signatureData: signature },
    )
    return r.validityIndicator === ValidityIndicator.Valid
  }

  /** RNG Retrieve (KMIP 1.4 §4.35). */
  async rngRetrieve(length: number): Promise<Uint8Array> {
    const r = await this.#call(
      Operation.RNGRetrieve,
      crypto.RNGRetrieveRequest,
      crypto.RNGRetrieveResponse,
      { dataLength: length },
    )
    return r.data
  }

  /** Re-key (KMIP 1.4 §4.4): the replacement key's Unique Identifier. */
  async rekey(uid: string, o: { offsetSeconds?: number } = {}): Promise<string> {
    const r = await this.#call(Operation.ReKey, lifecycle.ReKeyRequest, lifecycle.ReKeyResponse, {
      uniqueIdentifier: uid,
      offset: o.offsetSeconds,
    })
    return r.uniqueIdentifier
  }
}
