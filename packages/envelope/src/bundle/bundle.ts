import { randomBytes, timingSafeEqual } from 'node:crypto'
import { gcmOpen, gcmSeal } from '../aead/gcm.js'
import { concatBytes, decodeLayout, encodeLayout, type Infer } from '../binary/layout.js'
import { EnvelopeError } from '../errors.js'
import { hkdfSha256 } from '../kdf/hkdf.js'
import {
  BUNDLE_MAX_BYTES,
  BUNDLE_VERSION,
  BundleBody,
  BundleDisk,
  BundleHeader,
  BundleKeys,
} from './layout.js'

/** A VM's internal keys. Callers wrap them in `Secret` and call {@link zeroBundleKeys} when done. */
export interface BundleKeySet {
  /** The 32-byte AES-256 key for the VM's files (NVRAM, swap, ...). */
  readonly fileKey: Uint8Array
  /** One 64-byte XTS-AES-256 DEK per disk, keyed by disk id. */
  readonly disks: ReadonlyMap<string, Uint8Array>
}

export interface BundleIds {
  readonly providerId: string
  readonly kekId: string
}

/** An opened bundle: the clear ids plus the keys. */
export type OpenedBundle = BundleIds & BundleKeySet

/** What a bundle says without its KEK: never key material. */
export interface BundleDescription extends BundleIds {
  readonly format: 'ward-vm-key-bundle'
  readonly version: number
  readonly cipher: 'aes-256-gcm'
  readonly size: number
}

const HEADER_ERRS = { format: 'ERR_BUNDLE_FORMAT', magic: 'ERR_BUNDLE_MAGIC' } as const
const INFO_KEY = new TextEncoder().encode('ward/bundle/v1/key')
const INFO_CHECK = new TextEncoder().encode('ward/bundle/v1/check')

const checkKek = (kek: Uint8Array): void => {
  if (!(kek instanceof Uint8Array) || kek.length !== 32)
    throw new EnvelopeError('ERR_BUNDLE_KEY_INVALID', 'the KEK must be 32 bytes (AES-256)')
}

const keyErr = (why: string): EnvelopeError => new EnvelopeError('ERR_BUNDLE_KEY_INVALID', why)

function encodeKeys(keys: BundleKeySet): Uint8Array {
  if (!(keys.fileKey instanceof Uint8Array) || keys.fileKey.length !== 32)
    throw keyErr('the file key must be 32 bytes')
  if (!(keys.disks instanceof Map)) throw keyErr('disks must be a Map of disk id to DEK')
  const parts = [
    encodeLayout(
      BundleKeys,
      { fileKey: keys.fileKey, diskCount: keys.disks.size },
      { format: 'ERR_BUNDLE_KEY_INVALID', magic: 'ERR_BUNDLE_KEY_INVALID' },
    ),
  ]
  for (const [diskId, dek] of keys.disks) {
    if (
      dek instanceof Uint8Array &&
      dek.length === 64 &&
      timingSafeEqual(dek.subarray(0, 32), dek.subarray(32))
    )
      // SECURITY: XTS with key1 == key2 loses its tweak secrecy (IEEE 1619 §5.1); OpenSSL refuses it.
      throw keyErr(`disk ${JSON.stringify(diskId)}: the two halves of an XTS DEK must differ`)
    parts.push(
      encodeLayout(
        BundleDisk,
        { diskId, dek },
        { format: 'ERR_BUNDLE_KEY_INVALID', magic: 'ERR_BUNDLE_KEY_INVALID' },
      ),
    )
  }
  return concatBytes(parts)
}

function decodeKeys(body: Uint8Array): BundleKeySet {
  const head = decodeLayout(BundleKeys, body, HEADER_ERRS)
  let off = head.length
  const disks = new Map<string, Uint8Array>()
  for (let i = 0; i < head.value.diskCount; i++) {
    const d = decodeLayout(BundleDisk, body.subarray(off), HEADER_ERRS)
    if (disks.has(d.value.diskId))
      throw new EnvelopeError(
        'ERR_BUNDLE_FORMAT',
        `disk id ${JSON.stringify(d.value.diskId)} appears twice`,
      )
    disks.set(d.value.diskId, d.value.dek)
    off += d.length
  }
  if (off !== body.length)
    throw new EnvelopeError('ERR_BUNDLE_FORMAT', 'trailing bytes after the key list')
  return { fileKey: head.value.fileKey, disks }
}

function deriveKeys(kek: Uint8Array, salt: Uint8Array): { key: Uint8Array; check: Uint8Array } {
  return { key: hkdfSha256(kek, salt, INFO_KEY, 32), check: hkdfSha256(kek, salt, INFO_CHECK, 16) }
}

interface ParsedBundle {
  header: Infer<typeof BundleHeader>
  aad: Uint8Array
  sealed: Uint8Array
}

function parse(bytes: Uint8Array): ParsedBundle {
  if (!(bytes instanceof Uint8Array))
    throw new EnvelopeError('ERR_BUNDLE_FORMAT', 'a bundle must be bytes')
  if (bytes.length > BUNDLE_MAX_BYTES + 1024)
    throw new EnvelopeError('ERR_BUNDLE_FORMAT', `bundle larger than ${BUNDLE_MAX_BYTES} bytes`)
  // The version is checked before the rest so that a future format gets a clear error.
  const magicLen = BundleHeader.magic.value.length
  if (bytes.length >= magicLen + 2) {
    const v = (bytes[magicLen]! << 8) | bytes[magicLen + 1]!
    const isMagic = BundleHeader.magic.value.every((b, i) => bytes[i] === b)
    if (isMagic && v !== BUNDLE_VERSION)
      throw new EnvelopeError(
        'ERR_BUNDLE_VERSION',
        `bundle version ${v} is not supported (this Ward reads version ${BUNDLE_VERSION})`,
      )
  }
  const h = decodeLayout(BundleHeader, bytes, HEADER_ERRS)
  const b = decodeLayout(BundleBody, bytes.subarray(h.length), HEADER_ERRS)
  if (h.length + b.length !== bytes.length)
    throw new EnvelopeError('ERR_BUNDLE_FORMAT', 'trailing bytes after the bundle')
  return { header: h.value, aad: bytes.subarray(0, h.length), sealed: b.value.sealed }
}

/**
 * Seal a VM's internal keys under a 32-byte KEK. The provider id and KEK id stay in clear and are
 * authenticated. Returns the bundle bytes (store them base64 in the VM configuration).
 * @example
 * const bundle = sealBundle({ providerId: 'kp1', kekId: 'k-42', fileKey, disks: new Map([['scsi0:0', dek]]) }, kek)
 */
export function sealBundle(input: BundleIds & BundleKeySet, kek: Uint8Array): Uint8Array {
  checkKek(kek)
  const body = encodeKeys(input)
  const salt = randomBytes(32)
  const { key, check } = deriveKeys(kek, salt)
  try {
    const header = encodeLayout(
      BundleHeader,
      {
        version: BUNDLE_VERSION,
        providerId: input.providerId,
        kekId: input.kekId,
        salt,
        kekCheck: check,
        nonce: randomBytes(12),
      },
      { format: 'ERR_BUNDLE_KEY_INVALID', magic: 'ERR_BUNDLE_KEY_INVALID' },
    )
    const nonce = header.subarray(header.length - 12)
    const sealed = gcmSeal(key, nonce, body, header)
    return concatBytes([header, encodeLayout(BundleBody, { sealed }, HEADER_ERRS)])
  } finally {
    body.fill(0)
    key.fill(0)
  }
}

/**
 * Open a bundle with its KEK. A different KEK is `ERR_BUNDLE_WRONG_KEK`; a modified bundle is
 * `ERR_BUNDLE_AUTH` (or `ERR_BUNDLE_FORMAT` when it does not even parse). Never returns garbage.
 */
export function openBundle(bytes: Uint8Array, kek: Uint8Array): OpenedBundle {
  checkKek(kek)
  const { header, aad, sealed } = parse(bytes)
  const { key, check } = deriveKeys(kek, header.salt)
  try {
    if (!timingSafeEqual(check, header.kekCheck))
      throw new EnvelopeError(
        'ERR_BUNDLE_WRONG_KEK',
        `this KEK did not seal the bundle: it needs KEK ${JSON.stringify(header.kekId)} of provider ${JSON.stringify(header.providerId)} (or the bundle's salt or check value is damaged)`,
      )
    let body: Uint8Array
    try {
      body = gcmOpen(key, header.nonce, sealed, aad)
    } catch (e) {
      throw new EnvelopeError(
        'ERR_BUNDLE_AUTH',
        'the bundle failed authentication: it was modified',
        { cause: e },
      )
    }
    try {
      const keys = decodeKeys(body)
      return {
        providerId: header.providerId,
        kekId: header.kekId,
        fileKey: keys.fileKey,
        disks: keys.disks,
      }
    } finally {
      body.fill(0)
    }
  } finally {
    key.fill(0)
  }
}

/**
 * Shallow recrypt: open under `oldKek` and seal the same keys under `newKek`, optionally with new
 * provider and KEK ids. No VM data is touched.
 */
export function rewrapBundle(
  bytes: Uint8Array,
  oldKek: Uint8Array,
  newKek: Uint8Array,
  ids: { providerId?: string; kekId?: string } = {},
): Uint8Array {
  const opened = openBundle(bytes, oldKek)
  try {
    return sealBundle(
      {
        ...opened,
        providerId: ids.providerId ?? opened.providerId,
        kekId: ids.kekId ?? opened.kekId,
      },
      newKek,
    )
  } finally {
    zeroBundleKeys(opened)
  }
}

/** Read the clear part of a bundle (format, version, provider id, KEK id); never key material. */
export function describeBundle(bytes: Uint8Array): BundleDescription {
  const { header } = parse(bytes)
  return {
    format: 'ward-vm-key-bundle',
    version: header.version,
    cipher: 'aes-256-gcm',
    providerId: header.providerId,
    kekId: header.kekId,
    size: bytes.length,
  }
}

/** Zero every key of an opened bundle (call when the keys are no longer needed). */
export function zeroBundleKeys(keys: BundleKeySet): void {
  keys.fileKey.fill(0)
  for (const dek of keys.disks.values()) dek.fill(0)
}
