import { EnvelopeError } from '../errors.js'
import { unwrapKwp, wrapKwp } from '../keywrap/keywrap.js'
import { b64, jsonString, jsonUintString, type Luks2Metadata, type Luks2Token } from './metadata.js'

/*
 * The Ward token (docs/disk-format.md): a LUKS2 token (spec §3.6) of type "ward" carrying the key
 * provider id, the KEK id and the DEK wrapped by the KEK with AES-KWP (RFC 5649). It names no
 * keyslot: the DEK is checked against the segment's digest instead.
 */

export const WARD_TOKEN_TYPE = 'ward'
export const WARD_TOKEN_VERSION = 1
/** A 64-byte DEK wrapped with KWP is 72 bytes. */
const WRAPPED_DEK_LEN = 72
const ID_MAX = 256

export interface WardToken {
  readonly id: string
  readonly providerId: string
  readonly kekId: string
  readonly wrappedDek: Uint8Array
  readonly version: number
  /**
   * Bytes of data Ward wrote (optional `data_size`, a decimal string; absent on disks written
   * before it existed). The segment stays `dynamic` (the file may grow), but a data segment
   * shorter than this is a truncated file (ERR_LUKS2_TRUNCATED).
   */
  readonly dataSize?: number
}

const bad = (id: string, what: string): EnvelopeError =>
  new EnvelopeError('ERR_LUKS2_TOKEN', `Ward token ${id}: ${what}`)

function idField(t: Luks2Token, key: string): string {
  const v = jsonString(t.json, key, `tokens.${t.id}`)
  if (v.length > ID_MAX || [...v].some((c) => c.charCodeAt(0) < 0x20))
    throw bad(t.id, `${key} is longer than ${ID_MAX} or has control characters`)
  return v
}

/** The Ward token of a volume, validated; undefined when it has none. */
export function findWardToken(meta: Luks2Metadata): WardToken | undefined {
  const found = meta.tokens.filter((t) => t.type === WARD_TOKEN_TYPE)
  if (found.length > 1) throw new EnvelopeError('ERR_LUKS2_TOKEN', 'more than one Ward token')
  const t = found[0]
  if (!t) return undefined
  const version = t.json.version
  if (version !== WARD_TOKEN_VERSION)
    throw bad(
      t.id,
      `version ${String(version).slice(0, 16)} is not supported (expected ${WARD_TOKEN_VERSION})`,
    )
  try {
    return {
      id: t.id,
      providerId: idField(t, 'provider_id'),
      kekId: idField(t, 'kek_id'),
      wrappedDek: b64(t.json, 'wrapped_dek', `tokens.${t.id}`, WRAPPED_DEK_LEN),
      version,
      ...(t.json.data_size !== undefined
        ? { dataSize: jsonUintString(t.json, 'data_size', `tokens.${t.id}`) }
        : {}),
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_LUKS2_METADATA')
      throw new EnvelopeError('ERR_LUKS2_TOKEN', `Ward token ${t.id}: ${(e as Error).message}`, {
        cause: e,
      })
    throw e
  }
}

/** The token JSON for a DEK wrapped under `kek`, recording `dataSize` bytes of data. */
export function makeWardToken(
  kek: Uint8Array,
  dek: Uint8Array,
  providerId: string,
  kekId: string,
  dataSize: number,
): Record<string, unknown> {
  if (providerId.length > ID_MAX || kekId.length > ID_MAX)
    throw new EnvelopeError(
      'ERR_LUKS2_TOKEN',
      `provider and KEK ids must be at most ${ID_MAX} characters`,
    )
  return {
    type: WARD_TOKEN_TYPE,
    keyslots: [],
    provider_id: providerId,
    kek_id: kekId,
    wrapped_dek: Buffer.from(wrapKwp(kek, dek)).toString('base64'),
    version: WARD_TOKEN_VERSION,
    data_size: String(dataSize),
  }
}

/** Unwrap the DEK; a KEK that fails the KWP integrity check is ERR_DISK_WRONG_KEK. */
export function unwrapWardToken(token: WardToken, kek: Uint8Array): Uint8Array {
  try {
    return unwrapKwp(kek, token.wrappedDek)
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_KEYWRAP_INTEGRITY')
      throw new EnvelopeError(
        'ERR_DISK_WRONG_KEK',
        `the KEK does not unwrap this disk's DEK (the disk expects KEK '${token.kekId}' of provider '${token.providerId}'); check --kek-file`,
        { cause: e },
      )
    throw e
  }
}
