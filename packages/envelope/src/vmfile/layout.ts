import { enumeration, fixed, magic, str8, uint } from '../binary/layout.js'

/** Roles a VM file can have; the role is in the header and bound into every chunk. */
export const VM_FILE_ROLES = [
  'nvram',
  'swap',
  'snapshot-memory',
  'core-dump',
  'vtpm',
  'config',
] as const
export type VmFileRole = (typeof VM_FILE_ROLES)[number]

/** Current VM file format version. */
export const VMFILE_VERSION = 1
/** Default plaintext chunk size: 64 KiB (as Tink's streaming AEAD segments and age's STREAM). */
export const VMFILE_DEFAULT_CHUNK = 64 * 1024
export const VMFILE_MIN_CHUNK = 4096
export const VMFILE_MAX_CHUNK = 16 * 1024 * 1024
/** GCM tag appended to every chunk. */
export const VMFILE_TAG = 16
/** Largest possible encoded header; readers fetch this many bytes to decode it. */
export const VMFILE_MAX_HEADER = 7 + 2 + 1 + 1 + 4 + 256 + 256 + 40 + 7

/**
 * Ward VM file header v1 (docs/formats.md "VM files"). The encoded header, followed by the VM id,
 * is the associated data of every chunk, so any header change fails authentication.
 */
export const VmFileHeader = {
  magic: magic('WARDVMF'),
  version: uint(2, 1, 0xffff),
  role: enumeration(VM_FILE_ROLES),
  cipher: enumeration(['aes-256-gcm'] as const),
  /** Plaintext bytes per chunk (a power of two); each stored chunk is this plus the tag. */
  chunkSize: uint(4, VMFILE_MIN_CHUNK, VMFILE_MAX_CHUNK),
  providerId: str8(1, 255),
  kekId: str8(1, 255),
  /** The file's random 32-byte DEK, wrapped by the KEK with AES-KWP (RFC 5649). */
  wrappedDek: fixed(40),
  /** Random per file; chunk nonce = prefix(7) || chunk index u32 BE || last-chunk flag (1 byte). */
  noncePrefix: fixed(7),
} as const
