import { randomBytes } from 'node:crypto'
import { decodeLayout, encodeLayout, type Infer } from '../binary/layout.js'
import { EnvelopeError } from '../errors.js'
import { unwrapKwp, wrapKwp } from '../keywrap/keywrap.js'
import { VMFILE_VERSION, VmFileHeader, type VmFileRole } from './layout.js'

export type VmFileHeaderValue = Infer<typeof VmFileHeader>
const ERRS = { format: 'ERR_VMFILE_HEADER', magic: 'ERR_VMFILE_MAGIC' } as const

/** A decoded header plus the exact bytes it was decoded from (those are what chunks bind). */
export interface ParsedVmFileHeader {
  readonly header: VmFileHeaderValue
  readonly bytes: Uint8Array
}

/** Decode the header at the start of `bytes` (which may hold more than the header). */
export function parseVmFileHeader(bytes: Uint8Array): ParsedVmFileHeader {
  const m = VmFileHeader.magic.value
  if (bytes.length >= m.length + 2 && m.every((b, i) => bytes[i] === b)) {
    const v = (bytes[m.length]! << 8) | bytes[m.length + 1]!
    if (v !== VMFILE_VERSION)
      throw new EnvelopeError(
        'ERR_VMFILE_VERSION',
        `VM file version ${v} is not supported (this Ward reads version ${VMFILE_VERSION})`,
      )
  }
  const { value, length } = decodeLayout(VmFileHeader, bytes, ERRS)
  if ((value.chunkSize & (value.chunkSize - 1)) !== 0)
    throw new EnvelopeError(
      'ERR_VMFILE_HEADER',
      `chunk size ${value.chunkSize} is not a power of two`,
    )
  return { header: value, bytes: bytes.slice(0, length) }
}

export interface NewHeaderParams {
  readonly role: VmFileRole
  readonly chunkSize: number
  readonly providerId: string
  readonly kekId: string
}

/** Make a header for a new file: a fresh DEK wrapped by `kek`, a fresh nonce prefix. */
export function newVmFileHeader(
  params: NewHeaderParams,
  kek: Uint8Array,
): { parsed: ParsedVmFileHeader; dek: Uint8Array } {
  checkKek(kek)
  const cs = params.chunkSize
  if (!Number.isInteger(cs) || cs < 4096 || cs > 16 * 1024 * 1024 || (cs & (cs - 1)) !== 0)
    throw new EnvelopeError(
      'ERR_VMFILE_PARAMS',
      'chunk size must be a power of two from 4 KiB to 16 MiB',
    )
  const dek = new Uint8Array(randomBytes(32))
  const value: VmFileHeaderValue = {
    version: VMFILE_VERSION,
    role: params.role,
    cipher: 'aes-256-gcm',
    chunkSize: cs,
    providerId: params.providerId,
    kekId: params.kekId,
    wrappedDek: wrapKwp(kek, dek),
    noncePrefix: new Uint8Array(randomBytes(7)),
  }
  const bytes = encodeLayout(VmFileHeader, value, {
    format: 'ERR_VMFILE_PARAMS',
    magic: 'ERR_VMFILE_PARAMS',
  })
  return { parsed: { header: value, bytes }, dek }
}

/** Unwrap the file's DEK; a wrong KEK (or a damaged wrapped DEK) is `ERR_VMFILE_WRONG_KEK`. */
export function unwrapVmFileDek(header: VmFileHeaderValue, kek: Uint8Array): Uint8Array {
  checkKek(kek)
  try {
    const dek = unwrapKwp(kek, header.wrappedDek)
    if (dek.length !== 32) throw new Error('DEK is not 32 bytes')
    return dek
  } catch (e) {
    throw new EnvelopeError(
      'ERR_VMFILE_WRONG_KEK',
      `this KEK does not unwrap the file's key: it needs KEK ${JSON.stringify(header.kekId)} of provider ${JSON.stringify(header.providerId)} (or the header is damaged)`,
      { cause: e },
    )
  }
}

export function checkKek(kek: Uint8Array): void {
  if (!(kek instanceof Uint8Array) || kek.length !== 32)
    throw new EnvelopeError('ERR_VMFILE_PARAMS', 'the KEK must be 32 bytes (AES-256)')
}
