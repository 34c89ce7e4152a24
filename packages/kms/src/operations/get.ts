import { constants, createCipheriv, publicEncrypt } from 'node:crypto'
import { KmsError, notSupported } from '../errors.js'
import {
  AS_REGISTERED,
  attrScalar,
  attrValues,
  loadObject,
  markFetched,
  targetId,
  withMaterial,
} from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import {
  defaultFormat,
  keyBlock,
  type KeyBlockInput,
  keyValueBytes,
  publicKeyObject,
  renderObject,
} from '../model/material.js'
import {
  BlockCipherMode,
  CryptographicUsageMask,
  EncryptionKeyInformation,
  GetRequest,
  GetResponse,
  KeyWrappingData,
  HashingAlgorithm,
  ObjectType,
  Operation,
  PaddingMethod,
  State,
  encodeStructure,
} from '@ward/kmip'
import type { PayloadOf } from '@ward/kmip'
import { stateError, usageMaskError } from './refusals.js'
import { defineOperation } from './types.js'

export const hashName: Record<number, string> = {
  [HashingAlgorithm.SHA_1]: 'sha1',
  [HashingAlgorithm.SHA_224]: 'sha224',
  [HashingAlgorithm.SHA_256]: 'sha256',
  [HashingAlgorithm.SHA_384]: 'sha384',
  [HashingAlgorithm.SHA_512]: 'sha512',
}

/** Wrap `data` under the wrapping key: AES KW (RFC 3394) / KWP (RFC 5649), or RSA-OAEP. */
type WrappingSpecification = NonNullable<PayloadOf<typeof GetRequest>['keyWrappingSpecification']>
type KeyInformation = PayloadOf<typeof EncryptionKeyInformation>

async function wrapWith(
  ctx: OpContext,
  spec: WrappingSpecification,
  data: Buffer,
): Promise<{ wrapped: Buffer; info: KeyInformation }> {
  const method = spec.wrappingMethod
  if (method !== undefined && method !== 1)
    throw notSupported('only Wrapping Method Encrypt is supported')
  const eki = spec.encryptionKeyInformation
  if (eki === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', 'Encryption Key Information is required to wrap')
  const wid = eki.uniqueIdentifier
  const params = eki.cryptographicParameters
  const mode = params?.blockCipherMode
  const w = await loadObject(ctx, wid, 'get')
  if (w.state !== State.Active) throw stateError(`wrapping key ${wid} is not Active`)
  // Wrapping applies protection (KMIP 1.4 §3.19 Wrap Key, §3.27 Protect Stop Date): the key must
  // be meant for it, as for Encrypt (a key without a Cryptographic Usage Mask is unrestricted,
  // as in every operation here; see usable in crypto-common.ts).
  const mask = attrScalar(w, 'Cryptographic Usage Mask')
  if (typeof mask === 'number' && (mask & CryptographicUsageMask.WrapKey) === 0)
    throw usageMaskError(`wrapping key ${wid}'s Cryptographic Usage Mask does not allow Wrap Key`)
  const stop = attrScalar(w, 'Protect Stop Date')
  if (typeof stop === 'bigint' && ctx.now() >= stop)
    throw stateError(`wrapping key ${wid} may not wrap after its Protect Stop Date`)
  let wrapped: Buffer
  if (w.objectType === ObjectType.SymmetricKey && w.format !== AS_REGISTERED) {
    wrapped = withMaterial(ctx, w, (k) => {
      const bits = k.length * 8
      if (mode === BlockCipherMode.AESKeyWrapPadding) {
        const c = createCipheriv(`id-aes${bits}-wrap-pad`, k, Buffer.from('a65959a6', 'hex'))
        return Buffer.concat([c.update(data), c.final()])
      }
      if (mode !== undefined && mode !== BlockCipherMode.NISTKeyWrap)
        throw notSupported(
          'symmetric wrapping supports NIST Key Wrap and AES Key Wrap with Padding',
        )
      if (data.length % 8 !== 0 || data.length < 16)
        throw notSupported(
          'NIST Key Wrap needs a multiple of 8 bytes, at least 16; use AES Key Wrap with Padding',
        )
      const c = createCipheriv(`id-aes${bits}-wrap`, k, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'))
      return Buffer.concat([c.update(data), c.final()])
    })
  } else if (w.objectType === ObjectType.PublicKey) {
    const padding = params?.paddingMethod ?? PaddingMethod.OAEP
    if (padding !== PaddingMethod.OAEP) throw notSupported('RSA wrapping supports OAEP only')
    const hash = hashName[params?.hashingAlgorithm ?? HashingAlgorithm.SHA_1] ?? 'sha1'
    wrapped = withMaterial(ctx, w, (m) =>
      publicEncrypt(
        { key: publicKeyObject(m), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        data,
      ),
    )
  } else
    throw new KmsError(
      'ERR_KMS_WRAP_KEY',
      `object ${wid} cannot wrap (a symmetric key or an RSA public key is needed)`,
    )
  return { wrapped, info: eki }
}

/** KMIP 1.4 §4.11 Get: Raw/Transparent/PKCS formats, optionally wrapped. */
export const get = defineOperation({
  code: Operation.Get,
  privilege: 'get',
  request: GetRequest,
  response: GetResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o: ManagedObject = await loadObject(ctx, id, 'get')
    if (o.state === State.Destroyed || o.state === State.DestroyedCompromised || o.sealed === null)
      throw new KmsError(
        'ERR_KMS_DESTROYED',
        `object ${id} was destroyed; only its attributes remain`,
      )
    const wantFormat = request.keyFormatType
    const spec = request.keyWrappingSpecification
    // KMIP 1.4 §3.50 / 2.1 §4.19 Extractable False: the value never leaves the server
    if (attrValues(o, 'Extractable').some((v) => v.value === false))
      throw new KmsError(
        'ERR_KMS_NOT_EXTRACTABLE',
        `object ${id} is not Extractable: use it through server-side operations`,
      )
    // KMIP 1.4 §3.48 / 2.1 §4.49 Sensitive: the value leaves the server only wrapped
    if (spec === undefined && attrValues(o, 'Sensitive').some((v) => v.value === true))
      throw new KmsError(
        'ERR_KMS_SENSITIVE',
        `object ${id} is Sensitive: Get it with a Key Wrapping Specification`,
      )
    const m = ctx.barrier.open(o.id, o.sealed)
    try {
      // An object registered as a whole TTLV object is served as it was registered.
      let block: KeyBlockInput | undefined
      if (o.format === AS_REGISTERED) {
        if (spec !== undefined)
          throw notSupported('this object was registered in a form the server does not re-wrap')
      } else {
        const registered = attrScalar(o, 'Key Format Type')
        const format =
          wantFormat ?? (typeof registered === 'number' ? registered : defaultFormat(o, m))
        if (spec !== undefined) {
          const noEncoding = spec.encodingOption === 1
          const data = keyValueBytes(o, m, { format, encoding: noEncoding ? 'none' : 'ttlv' })
          try {
            const { wrapped, info } = await wrapWith(ctx, spec, data)
            block = keyBlock(o, m, format, {
              wrapped,
              wrappingData: encodeStructure(
                KeyWrappingData,
                {
                  wrappingMethod: 1,
                  encryptionKeyInformation: info,
                  encodingOption: noEncoding ? 1 : undefined,
                },
                ctx,
              ),
            })
          } finally {
            data.fill(0)
          }
        } else block = keyBlock(o, m, format)
      }
      const payload = {
        objectType: o.objectType,
        uniqueIdentifier: id,
        object: renderObject(o, m, block),
      }
      await markFetched(ctx, o)
      return { objectId: id, payload }
    } finally {
      m.fill(0)
    }
  },
})
