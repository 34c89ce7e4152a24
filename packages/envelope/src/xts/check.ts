import { timingSafeEqual } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/** IEEE Std 1619-2007 §5.1: a data unit is at least one AES block and at most 2^20 blocks. */
export const XTS_MIN_UNIT = 16
export const XTS_MAX_UNIT = 1 << 24

/**
 * Validates the arguments of a whole-sector call. Both backends run it first, so they fail with
 * the same codes, and the native addon's own checks are only a second fence.
 */
export function checkSectorArgs(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  if (!(key instanceof Uint8Array) || key.length !== 64)
    throw new EnvelopeError(
      'ERR_XTS_KEY_LENGTH',
      `aes-xts-plain64 with AES-256 needs a 64-byte key (two AES-256 keys), got ${describeLength(key)}`,
    )
  checkHalves(key)
  if (!(data instanceof Uint8Array))
    throw new EnvelopeError('ERR_XTS_ARGUMENT', 'data must be a Uint8Array (or Buffer)')
  if (!Number.isInteger(sectorSize) || sectorSize < XTS_MIN_UNIT || sectorSize > XTS_MAX_UNIT)
    throw new EnvelopeError(
      'ERR_XTS_SECTOR_SIZE',
      `sector size must be an integer from ${XTS_MIN_UNIT} to ${XTS_MAX_UNIT} bytes, got ${sectorSize}`,
    )
  if (data.length % sectorSize !== 0)
    throw new EnvelopeError(
      'ERR_XTS_DATA_LENGTH',
      `data (${data.length} bytes) is not a whole number of ${sectorSize}-byte sectors`,
    )
  const count = data.length / sectorSize
  if (!Number.isSafeInteger(firstSector) || firstSector < 0 || count > 2 ** 53 - firstSector)
    throw new EnvelopeError(
      'ERR_XTS_SECTOR_NUMBER',
      `first sector must be a non-negative integer and the last below 2^53, got ${firstSector}`,
    )
}

/** Validates a single-data-unit call (xtsTransform): any length from 16 bytes, 32- or 64-byte key. */
export function checkUnitArgs(key: Uint8Array, tweak: Uint8Array, data: Uint8Array): void {
  if (!(key instanceof Uint8Array) || (key.length !== 64 && key.length !== 32))
    throw new EnvelopeError(
      'ERR_XTS_KEY_LENGTH',
      `XTS key must be 64 bytes (XTS-AES-256) or 32 bytes (XTS-AES-128), got ${describeLength(key)}`,
    )
  checkHalves(key)
  if (!(tweak instanceof Uint8Array) || tweak.length !== 16)
    throw new EnvelopeError('ERR_XTS_TWEAK_LENGTH', 'the XTS tweak must be exactly 16 bytes')
  if (!(data instanceof Uint8Array))
    throw new EnvelopeError('ERR_XTS_ARGUMENT', 'data must be a Uint8Array (or Buffer)')
  if (data.length < XTS_MIN_UNIT || data.length > XTS_MAX_UNIT)
    throw new EnvelopeError(
      'ERR_XTS_DATA_LENGTH',
      `an XTS data unit must be ${XTS_MIN_UNIT} bytes to 16 MiB, got ${data.length}`,
    )
}

/**
 * OpenSSL 3 refuses equal key halves when encrypting (IEEE 1619 needs independent Key1 and Key2).
 * We refuse them in both directions: no sound key generator produces one, so it means a bug or a
 * forged header, and a uniform rule keeps the two backends identical.
 */
function checkHalves(key: Uint8Array): void {
  const h = key.length / 2
  if (timingSafeEqual(key.subarray(0, h), key.subarray(h)))
    throw new EnvelopeError(
      'ERR_XTS_DUPLICATED_KEYS',
      'the two halves of the XTS key are equal; generate a fresh random key',
    )
}

function describeLength(v: unknown): string {
  return v instanceof Uint8Array ? `${v.length} bytes` : typeof v
}
