import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError, BootMessages } from '../errors.js'

/** Largest encryption.info accepted. */
export const MAX_INFO = 64 << 10

/** Encryption mode of the host configuration, with the seed's names. */
export type EncryptionMode = 'NONE' | 'TPM'

/** What encryption.info says (it is authenticated by a MAC under the archive key). */
export interface EncryptionInfoBody {
  readonly format: 'ward-encryption-info'
  readonly version: 2
  readonly mode: EncryptionMode
  /**
   * Mode TPM: the generation of the configuration (decimal), the value the TPM's configuration
   * counter has while this configuration is the current one. The archive key is sealed to it.
   */
  readonly generation?: string
  readonly requireSecureBoot: boolean
  readonly requireExecInstalledOnly: boolean
  /** Mode NONE: the KDF inputs (the archive key is HKDF-SHA256 of these). */
  readonly kdf?: { readonly alg: 'HKDF-SHA256'; readonly salt: string; readonly ikm: string }
  /**
   * Mode TPM: the sealed archive key and a description of its policy: PolicyPCR(pcrs), whose
   * digest is `pcrPolicyDigest`, then PolicyNV(counter `nvIndex` == generation), giving
   * `policyDigest`; `srkName` names the TPM's storage key it was sealed under (which TPM this
   * configuration is anchored in).
   */
  readonly tpm?: {
    readonly sealedPublic: string
    readonly sealedPrivate: string
    readonly pcrBank: 'sha256'
    readonly pcrs: readonly number[]
    readonly pcrPolicyDigest: string
    readonly policyDigest: string
    readonly nvIndex: number
    readonly srkName: string
  }
  /** Mode TPM: the archive key wrapped (AES-KW) under scrypt(recovery key). */
  readonly recovery?: {
    readonly id: string
    readonly N: number
    readonly r: number
    readonly p: number
    readonly salt: string
    readonly wrappedKey: string
  }
}

/** A parsed encryption.info: the body plus the exact bytes the MAC covers. */
export interface EncryptionInfo {
  readonly body: EncryptionInfoBody
  readonly bodyBytes: Buffer
  readonly mac: Buffer
}

function macKey(archiveKey: Secret): Buffer {
  return archiveKey.use((k) =>
    Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), 'ward encryption.info mac', 32)),
  )
}

/** Serialise: the body JSON on line 1, its HMAC-SHA256 under a key derived from the archive key on line 2. */
export function formatEncryptionInfo(body: EncryptionInfoBody, archiveKey: Secret): string {
  const json = JSON.stringify(body)
  const mk = macKey(archiveKey)
  const mac = createHmac('sha256', mk).update(json, 'utf8').digest('hex')
  mk.fill(0)
  return `${json}\n${mac}\n`
}

/**
 * Parse (untrusted: bounded, shape-checked). The MAC is checked later with `verifyEncryptionInfo`;
 * until then every field, the generation included, is only a claim.
 */
export function parseEncryptionInfo(bytes: Buffer, name = 'encryption.info'): EncryptionInfo {
  const fail = (why: string): HostError =>
    new HostError('ERR_HOST_CONFIG_DECRYPT', BootMessages.decryptFailed, {
      reason: `${name} ${why}`,
    })
  if (bytes.length > MAX_INFO) throw fail('too large')
  const nl = bytes.indexOf(0x0a)
  if (nl < 0) throw fail('malformed')
  const bodyBytes = bytes.subarray(0, nl)
  const macHex = bytes.subarray(nl + 1).toString('latin1')
  if (!/^[0-9a-f]{64}\n$/.test(macHex)) throw fail('malformed')
  let v: unknown
  try {
    v = JSON.parse(bodyBytes.toString('utf8'))
  } catch {
    throw fail('malformed')
  }
  if (isObj(v) && v.format === 'ward-encryption-info' && v.version === 1)
    throw fail(
      'is format version 1 (written before configuration generations): re-initialise the host',
    )
  if (!isBody(v)) throw fail('malformed')
  return { body: v, bodyBytes, mac: Buffer.from(macHex.slice(0, 64), 'hex') }
}

/** The generation a mode-TPM encryption.info claims (undefined in mode NONE). */
export function generationOf(body: EncryptionInfoBody): bigint | undefined {
  return body.generation === undefined ? undefined : BigInt(body.generation)
}

/** Check the MAC over the bytes read (never re-encoded). */
export function verifyEncryptionInfo(info: EncryptionInfo, archiveKey: Secret): boolean {
  const mk = macKey(archiveKey)
  const mac = createHmac('sha256', mk).update(info.bodyBytes).digest()
  mk.fill(0)
  return timingSafeEqual(mac, info.mac)
}

/** Mode NONE: derive the archive key from the KDF inputs kept in encryption.info. */
export function kdfArchiveKey(kdf: NonNullable<EncryptionInfoBody['kdf']>): Secret {
  const ikm = Buffer.from(kdf.ikm, 'base64')
  const key = hkdfSync(
    'sha256',
    ikm,
    Buffer.from(kdf.salt, 'base64'),
    'ward-host-configuration archive key',
    32,
  )
  ikm.fill(0)
  return new Secret(new Uint8Array(key))
}

const isStr = (x: unknown): x is string => typeof x === 'string' && x.length <= 16384
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null

/** A u64 in decimal, no leading zeros. */
export const isGeneration = (x: unknown): x is string =>
  typeof x === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(x) && BigInt(x) < 1n << 64n

function isBody(v: unknown): v is EncryptionInfoBody {
  if (!isObj(v)) return false
  if (v.format !== 'ward-encryption-info' || v.version !== 2) return false
  if (v.mode !== 'NONE' && v.mode !== 'TPM') return false
  if (typeof v.requireSecureBoot !== 'boolean' || typeof v.requireExecInstalledOnly !== 'boolean')
    return false
  if (v.mode === 'NONE') {
    const k = v.kdf
    if (!isObj(k) || k.alg !== 'HKDF-SHA256' || !isStr(k.salt) || !isStr(k.ikm)) return false
    if (v.generation !== undefined || v.tpm !== undefined) return false
  } else {
    const t = v.tpm
    if (!isGeneration(v.generation)) return false
    if (!isObj(t) || !isStr(t.sealedPublic) || !isStr(t.sealedPrivate) || !isStr(t.policyDigest))
      return false
    if (!Number.isInteger(t.nvIndex) || typeof t.srkName !== 'string') return false
    if (typeof t.pcrPolicyDigest !== 'string' || !/^[0-9a-f]{64}$/.test(t.pcrPolicyDigest))
      return false
    if (!/^[0-9a-f]{4,136}$/.test(t.srkName)) return false
    if (t.pcrBank !== 'sha256' || !Array.isArray(t.pcrs) || t.pcrs.length > 24) return false
    if (!t.pcrs.every((p) => Number.isInteger(p) && p >= 0 && p < 24)) return false
    const r = v.recovery
    if (!isObj(r) || !isStr(r.id) || !isStr(r.salt) || !isStr(r.wrappedKey)) return false
    for (const n of [r.N, r.r, r.p]) if (!Number.isInteger(n) || (n as number) < 1) return false
    if ((r.N as number) > 1 << 20 || (r.r as number) > 32 || (r.p as number) > 16) return false
  }
  return true
}
