import { KmipError } from '../errors.js'
import {
  attributeName,
  attributeTag,
  buildAttributeV1,
  buildAttributeV2,
  buildAttributesFor,
  parseAttributes,
  parseAttributeV1,
  type KmipAttribute,
} from '../message/attributes.js'
import { parseProtocolVersion, buildProtocolVersion } from '../message/message.js'
import { isV2, type ProtocolVersion } from '../message/version.js'
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
import { bool, bytes, date, en, int, present, s, text } from '../ttlv/build.js'
import type { TtlvItem } from '../ttlv/item.js'
import { all, children, find, opt, optStruct, req } from '../ttlv/read.js'
import { KmipTransport, payloadOf, type BatchRequest, type KmipClientOptions } from './client.js'

/** Cryptographic Parameters (KMIP 1.4 §2.1.5), the fields Ward uses. */
export interface CryptoParams {
  readonly blockCipherMode?: number
  readonly paddingMethod?: number
  readonly hashingAlgorithm?: number
  readonly keyRoleType?: number
  readonly digitalSignatureAlgorithm?: number
  readonly cryptographicAlgorithm?: number
  readonly randomIV?: boolean
  readonly ivLength?: number
  readonly tagLength?: number
}

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

function cryptoParams(p: CryptoParams | undefined): TtlvItem | undefined {
  if (p === undefined) return undefined
  return s(
    Tag.CryptographicParameters,
    present([
      p.blockCipherMode !== undefined && en(Tag.BlockCipherMode, p.blockCipherMode),
      p.paddingMethod !== undefined && en(Tag.PaddingMethod, p.paddingMethod),
      p.hashingAlgorithm !== undefined && en(Tag.HashingAlgorithm, p.hashingAlgorithm),
      p.keyRoleType !== undefined && en(Tag.KeyRoleType, p.keyRoleType),
      p.digitalSignatureAlgorithm !== undefined &&
        en(Tag.DigitalSignatureAlgorithm, p.digitalSignatureAlgorithm),
      p.cryptographicAlgorithm !== undefined &&
        en(Tag.CryptographicAlgorithm, p.cryptographicAlgorithm),
      p.randomIV !== undefined && bool(Tag.RandomIV, p.randomIV),
      p.ivLength !== undefined && int(Tag.IVLength, p.ivLength),
      p.tagLength !== undefined && int(Tag.TagLength, p.tagLength),
    ]),
  )
}

const uidItem = (uid: string | undefined): TtlvItem | undefined =>
  uid === undefined ? undefined : text(Tag.UniqueIdentifier, uid)

/** Builds a Name attribute (KMIP 1.4 §3.2). */
export function nameAttribute(name: string): KmipAttribute {
  return {
    name: 'Name',
    value: s(Tag.Name, [
      text(Tag.NameValue, name),
      en(Tag.NameType, NameType.UninterpretedTextString),
    ]),
  }
}

/** Simple attribute from a spec name and a scalar item builder result. */
function a(name: string, item: TtlvItem): KmipAttribute {
  return { name, value: { ...item, tag: attributeTag(name) ?? Tag.AttributeValue } as TtlvItem }
}

/**
 * Typed KMIP client: one method per operation, version-aware payloads (1.x Template-Attribute vs
 * 2.x Attributes), failover and pooling from {@link KmipTransport}. KMIP failures throw
 * ERR_KMIP_RESULT with the server's `resultReason`.
 */
export class KmipClient {
  readonly transport: KmipTransport
  constructor(options: KmipClientOptions) {
    this.transport = new KmipTransport(options)
  }

  get version(): ProtocolVersion {
    return this.transport.version
  }

  get #v2(): boolean {
    return isV2(this.transport.version)
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

  /** Discover Versions (KMIP 1.4 §4.26): versions the server supports, highest first. */
  async discoverVersions(versions: readonly ProtocolVersion[] = []): Promise<ProtocolVersion[]> {
    const p = await this.transport.call(
      Operation.DiscoverVersions,
      s(Tag.RequestPayload, versions.map(buildProtocolVersion)),
    )
    return children(p)
      .filter((c) => c.tag === Tag.ProtocolVersion)
      .map(parseProtocolVersion)
  }

  /** Query (KMIP 1.4 §4.25) with Query Function values. */
  async query(functions: readonly number[]): Promise<QueryResult> {
    const p = await this.transport.call(
      Operation.Query,
      s(
        Tag.RequestPayload,
        functions.map((f) => en(Tag.QueryFunction, f)),
      ),
    )
    const vendor = opt(p, Tag.VendorIdentification, 'TextString')
    const info = optStruct(p, Tag.ServerInformation)
    return {
      operations: all(p, Tag.Operation, 'Enumeration'),
      objectTypes: all(p, Tag.ObjectType, 'Enumeration'),
      ...(vendor !== undefined && { vendorIdentification: vendor }),
      ...(info !== undefined && { serverInformation: info }),
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
      a('Cryptographic Algorithm', en(0, o.algorithm ?? CryptographicAlgorithm.AES)),
      a('Cryptographic Length', int(0, o.length ?? 256)),
      a(
        'Cryptographic Usage Mask',
        int(0, o.usageMask ?? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      ),
      ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
      ...(o.attributes ?? []),
    ]
    const p = await this.transport.call(
      Operation.Create,
      s(Tag.RequestPayload, [
        en(Tag.ObjectType, ObjectType.SymmetricKey),
        buildAttributesFor(this.#v2, attrs),
      ]),
    )
    return req(p, Tag.UniqueIdentifier, 'TextString')
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
    const common = [
      a('Cryptographic Algorithm', en(0, o.algorithm ?? CryptographicAlgorithm.RSA)),
      a('Cryptographic Length', int(0, o.length ?? 2048)),
      ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
    ]
    const p = await this.transport.call(
      Operation.CreateKeyPair,
      s(Tag.RequestPayload, [
        buildAttributesFor(this.#v2, common, 'common'),
        buildAttributesFor(
          this.#v2,
          [
            a(
              'Cryptographic Usage Mask',
              int(0, o.privateUsageMask ?? CryptographicUsageMask.Sign),
            ),
          ],
          'private',
        ),
        buildAttributesFor(
          this.#v2,
          [
            a(
              'Cryptographic Usage Mask',
              int(0, o.publicUsageMask ?? CryptographicUsageMask.Verify),
            ),
          ],
          'public',
        ),
      ]),
    )
    return {
      privateKeyId: req(p, Tag.PrivateKeyUniqueIdentifier, 'TextString'),
      publicKeyId: req(p, Tag.PublicKeyUniqueIdentifier, 'TextString'),
    }
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
    const keyBlock = s(
      Tag.KeyBlock,
      present([
        en(
          Tag.KeyFormatType,
          objectType === ObjectType.SymmetricKey ? KeyFormatType.Raw : KeyFormatType.Opaque,
        ),
        s(Tag.KeyValue, [bytes(Tag.KeyMaterial, o.material)]),
        objectType === ObjectType.SymmetricKey &&
          en(Tag.CryptographicAlgorithm, o.algorithm ?? CryptographicAlgorithm.AES),
        objectType === ObjectType.SymmetricKey &&
          int(Tag.CryptographicLength, o.length ?? o.material.length * 8),
      ]),
    )
    const object =
      objectType === ObjectType.SecretData
        ? s(Tag.SecretData, [en(Tag.SecretDataType, o.secretDataType ?? 2), keyBlock])
        : s(Tag.SymmetricKey, [keyBlock])
    const attrs = [
      a(
        'Cryptographic Usage Mask',
        int(0, o.usageMask ?? CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
      ),
      ...(o.name !== undefined ? [nameAttribute(o.name)] : []),
    ]
    const p = await this.transport.call(
      Operation.Register,
      s(Tag.RequestPayload, [
        en(Tag.ObjectType, objectType),
        buildAttributesFor(this.#v2, attrs),
        object,
      ]),
    )
    return req(p, Tag.UniqueIdentifier, 'TextString')
  }

  /** Get (KMIP 1.4 §4.11). The key bytes are the caller's to zero. */
  async get(uid: string, o: { keyFormatType?: number } = {}): Promise<KmipObject> {
    const p = await this.transport.call(
      Operation.Get,
      s(
        Tag.RequestPayload,
        present([
          uidItem(uid),
          o.keyFormatType !== undefined && en(Tag.KeyFormatType, o.keyFormatType),
        ]),
      ),
    )
    const objectType = req(p, Tag.ObjectType, 'Enumeration')
    const object = children(p).find((c) => c.type === 'Structure')
    if (object === undefined)
      throw new KmipError('ERR_KMIP_MISSING_FIELD', 'Get response has no object', {
        tag: Tag.ResponsePayload,
      })
    const kb = find(object, Tag.KeyBlock)
    let out: KmipObject = {
      uniqueIdentifier: req(p, Tag.UniqueIdentifier, 'TextString'),
      objectType,
      object,
    }
    if (kb !== undefined) {
      const kv = find(kb, Tag.KeyValue)
      const km =
        kv === undefined ? undefined : kv.type === 'ByteString' ? kv : find(kv, Tag.KeyMaterial)
      const kft = opt(kb, Tag.KeyFormatType, 'Enumeration')
      const alg = opt(kb, Tag.CryptographicAlgorithm, 'Enumeration')
      const len = opt(kb, Tag.CryptographicLength, 'Integer')
      out = {
        ...out,
        ...(kft !== undefined && { keyFormatType: kft }),
        ...(alg !== undefined && { cryptographicAlgorithm: alg }),
        ...(len !== undefined && { cryptographicLength: len }),
        ...(km?.type === 'ByteString' && { keyMaterial: km.value }),
      }
    }
    return out
  }

  #reference(name: string): TtlvItem {
    if (!this.#v2) return text(Tag.AttributeName, name)
    const tag = attributeTag(name)
    if (tag !== undefined) return en(Tag.AttributeReference, tag)
    const dash = name.indexOf('-')
    return s(Tag.AttributeReference, [
      text(Tag.VendorIdentification, dash > 0 ? name.slice(0, dash) : 'x'),
      text(Tag.AttributeName, dash > 0 ? name.slice(dash + 1) : name),
    ])
  }

  /** Get Attributes (KMIP 1.4 §4.12); all attributes when `names` is omitted. */
  async getAttributes(uid: string, names: readonly string[] = []): Promise<KmipAttribute[]> {
    const p = await this.transport.call(
      Operation.GetAttributes,
      s(Tag.RequestPayload, [
        text(Tag.UniqueIdentifier, uid),
        ...names.map((n) => this.#reference(n)),
      ]),
    )
    const v2 = find(p, Tag.Attributes)
    if (v2 !== undefined) return parseAttributes(v2)
    return children(p)
      .filter((c) => c.tag === Tag.Attribute)
      .map(parseAttributeV1)
  }

  /** Get Attribute List (KMIP 1.4 §4.13): attribute names. */
  async getAttributeList(uid: string): Promise<string[]> {
    const p = await this.transport.call(
      Operation.GetAttributeList,
      s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid)]),
    )
    const names = all(p, Tag.AttributeName, 'TextString')
    for (const r of children(p).filter((c) => c.tag === Tag.AttributeReference)) {
      if (r.type === 'Enumeration')
        names.push(attributeName(r.value) ?? `0x${r.value.toString(16)}`)
      else if (r.type === 'Structure')
        names.push(
          `${req(r, Tag.VendorIdentification, 'TextString')}-${req(r, Tag.AttributeName, 'TextString')}`,
        )
    }
    return names
  }

  #attrOp(
    op: number,
    uid: string,
    attr: KmipAttribute,
    current?: KmipAttribute,
  ): Promise<TtlvItem> {
    const body = this.#v2
      ? present([
          current !== undefined && s(Tag.CurrentAttribute, [buildAttributeV2(current)]),
          s(Tag.NewAttribute, [buildAttributeV2(attr)]),
        ])
      : [buildAttributeV1(attr)]
    return this.transport.call(
      op,
      s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid), ...body]),
    )
  }

  /** Add Attribute (KMIP 1.4 §4.14), e.g. vendor `x-` text attributes. */
  async addAttribute(uid: string, attr: KmipAttribute): Promise<void> {
    await this.#attrOp(Operation.AddAttribute, uid, attr)
  }

  /** Modify Attribute (KMIP 1.4 §4.15). */
  async modifyAttribute(uid: string, attr: KmipAttribute, current?: KmipAttribute): Promise<void> {
    await this.#attrOp(Operation.ModifyAttribute, uid, attr, current)
  }

  /** Set Attribute (KMIP 2.0+ only). */
  async setAttribute(uid: string, attr: KmipAttribute): Promise<void> {
    if (!this.#v2)
      throw new KmipError('ERR_KMIP_INVALID_FIELD', 'Set Attribute needs KMIP 2.0 or later')
    await this.#attrOp(Operation.SetAttribute, uid, attr)
  }

  /** Delete Attribute (KMIP 1.4 §4.16) by name (and 1.x index). */
  async deleteAttribute(uid: string, name: string, index?: number): Promise<void> {
    const body = this.#v2
      ? [this.#reference(name)]
      : present([
          text(Tag.AttributeName, name),
          index !== undefined && int(Tag.AttributeIndex, index),
        ])
    await this.transport.call(
      Operation.DeleteAttribute,
      s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid), ...body]),
    )
  }

  /** Locate (KMIP 1.4 §4.9) by attributes; returns Unique Identifiers. */
  async locate(
    o: { attributes?: readonly KmipAttribute[]; maximumItems?: number; offsetItems?: number } = {},
  ): Promise<string[]> {
    const attrs = o.attributes ?? []
    const p = await this.transport.call(
      Operation.Locate,
      s(
        Tag.RequestPayload,
        present([
          o.maximumItems !== undefined && int(Tag.MaximumItems, o.maximumItems),
          o.offsetItems !== undefined && int(Tag.OffsetItems, o.offsetItems),
          ...(this.#v2 ? [buildAttributesFor(true, attrs)] : attrs.map((x) => buildAttributeV1(x))),
        ]),
      ),
    )
    return all(p, Tag.UniqueIdentifier, 'TextString')
  }

  /** Activate (KMIP 1.4 §4.19). */
  async activate(uid: string): Promise<void> {
    await this.transport.call(
      Operation.Activate,
      s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid)]),
    )
  }

  /** Revoke (KMIP 1.4 §4.20). */
  async revoke(
    uid: string,
    o: { reason?: number; message?: string; compromiseOccurrenceDate?: Date } = {},
  ): Promise<void> {
    await this.transport.call(
      Operation.Revoke,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          s(
            Tag.RevocationReason,
            present([
              en(Tag.RevocationReasonCode, o.reason ?? RevocationReasonCode.CessationOfOperation),
              o.message !== undefined && text(Tag.RevocationMessage, o.message),
            ]),
          ),
          o.compromiseOccurrenceDate !== undefined &&
            date(Tag.CompromiseOccurrenceDate, o.compromiseOccurrenceDate),
        ]),
      ),
    )
  }

  /** Destroy (KMIP 1.4 §4.21). */
  async destroy(uid: string): Promise<void> {
    await this.transport.call(
      Operation.Destroy,
      s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid)]),
    )
  }

  /** Encrypt (KMIP 1.4 §4.29). */
  async encrypt(
    uid: string,
    data: Uint8Array,
    o: { params?: CryptoParams; iv?: Uint8Array; aad?: Uint8Array } = {},
  ): Promise<{ data: Uint8Array; iv?: Uint8Array; tag?: Uint8Array }> {
    const p = await this.transport.call(
      Operation.Encrypt,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          cryptoParams(o.params),
          bytes(Tag.Data, data),
          o.iv !== undefined && bytes(Tag.IVCounterNonce, o.iv),
          o.aad !== undefined && bytes(Tag.AuthenticatedEncryptionAdditionalData, o.aad),
        ]),
      ),
    )
    const iv = opt(p, Tag.IVCounterNonce, 'ByteString')
    const tag = opt(p, Tag.AuthenticatedEncryptionTag, 'ByteString')
    return {
      data: req(p, Tag.Data, 'ByteString'),
      ...(iv !== undefined && { iv }),
      ...(tag !== undefined && { tag }),
    }
  }

  /** Decrypt (KMIP 1.4 §4.30). The plaintext is the caller's to zero. */
  async decrypt(
    uid: string,
    data: Uint8Array,
    o: { params?: CryptoParams; iv?: Uint8Array; aad?: Uint8Array; tag?: Uint8Array } = {},
  ): Promise<Uint8Array> {
    const p = await this.transport.call(
      Operation.Decrypt,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          cryptoParams(o.params),
          bytes(Tag.Data, data),
          o.iv !== undefined && bytes(Tag.IVCounterNonce, o.iv),
          o.aad !== undefined && bytes(Tag.AuthenticatedEncryptionAdditionalData, o.aad),
          o.tag !== undefined && bytes(Tag.AuthenticatedEncryptionTag, o.tag),
        ]),
      ),
    )
    return req(p, Tag.Data, 'ByteString')
  }

  /** MAC (KMIP 1.4 §4.33). */
  async mac(uid: string, data: Uint8Array, params?: CryptoParams): Promise<Uint8Array> {
    const p = await this.transport.call(
      Operation.MAC,
      s(
        Tag.RequestPayload,
        present([text(Tag.UniqueIdentifier, uid), cryptoParams(params), bytes(Tag.Data, data)]),
      ),
    )
    return req(p, Tag.MACData, 'ByteString')
  }

  /** MAC Verify (KMIP 1.4 §4.34): true when Valid. */
  async macVerify(
    uid: string,
    data: Uint8Array,
    macData: Uint8Array,
    params?: CryptoParams,
  ): Promise<boolean> {
    const p = await this.transport.call(
      Operation.MACVerify,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          cryptoParams(params),
          bytes(Tag.Data, data),
          bytes(Tag.MACData, macData),
        ]),
      ),
    )
    return req(p, Tag.ValidityIndicator, 'Enumeration') === ValidityIndicator.Valid
  }

  /** Sign (KMIP 1.4 §4.31). */
  async sign(uid: string, data: Uint8Array, params?: CryptoParams): Promise<Uint8Array> {
    const p = await this.transport.call(
      Operation.Sign,
      s(
        Tag.RequestPayload,
        present([text(Tag.UniqueIdentifier, uid), cryptoParams(params), bytes(Tag.Data, data)]),
      ),
    )
    return req(p, Tag.SignatureData, 'ByteString')
  }

  /** Signature Verify (KMIP 1.4 §4.32): true when Valid. */
  async signatureVerify(
    uid: string,
    data: Uint8Array,
    signature: Uint8Array,
    params?: CryptoParams,
  ): Promise<boolean> {
    const p = await this.transport.call(
      Operation.SignatureVerify,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          cryptoParams(params),
          bytes(Tag.Data, data),
          bytes(Tag.SignatureData, signature),
        ]),
      ),
    )
    return req(p, Tag.ValidityIndicator, 'Enumeration') === ValidityIndicator.Valid
  }

  /** RNG Retrieve (KMIP 1.4 §4.35). */
  async rngRetrieve(length: number): Promise<Uint8Array> {
    const p = await this.transport.call(
      Operation.RNGRetrieve,
      s(Tag.RequestPayload, [int(Tag.DataLength, length)]),
    )
    return req(p, Tag.Data, 'ByteString')
  }

  /** Re-key (KMIP 1.4 §4.4): the replacement key's Unique Identifier. */
  async rekey(uid: string, o: { offsetSeconds?: number } = {}): Promise<string> {
    const p = await this.transport.call(
      Operation.ReKey,
      s(
        Tag.RequestPayload,
        present([
          text(Tag.UniqueIdentifier, uid),
          o.offsetSeconds !== undefined && {
            tag: Tag.Offset,
            type: 'Interval',
            value: o.offsetSeconds,
          },
        ]),
      ),
    )
    return req(p, Tag.UniqueIdentifier, 'TextString')
  }
}
