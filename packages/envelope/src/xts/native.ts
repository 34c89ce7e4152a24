import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'

/** What native/ward_xts.c exports (see its header comment). */
export interface NativeXts {
  sectors(
    enc: boolean,
    key: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
  ): void
  sectorsAsync(
    enc: boolean,
    key: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
  ): Promise<void>
  reencrypt(
    oldKey: Uint8Array,
    newKey: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
  ): void
  reencryptAsync(
    oldKey: Uint8Array,
    newKey: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
  ): Promise<void>
  transform(enc: boolean, key: Uint8Array, tweak: Uint8Array, data: Uint8Array): void
  /**
   * How the sector loops reach OpenSSL's AES-256-XTS: the provider's dispatch table directly
   * (default), or EVP (fallback, or WARD_XTS_EVP_ONLY set when the addon loaded).
   */
  readonly cipherPath: 'provider' | 'evp'
  /** A read-only shared mapping of the file's first `length` bytes (an opaque handle). */
  mapInput(fd: number, length: number): unknown
  /** Unmaps now; throws while a job reads from it. */
  unmapInput(map: unknown): void
  mapOutput(fd: number, length: number): unknown
  sectorsMappedAsync(
    enc: boolean,
    key: Uint8Array,
    src: unknown,
    srcOffset: number,
    dst: unknown,
    dstOffset: number,
    length: number,
    firstSector: number,
    sectorSize: number,
  ): Promise<void>
  /** pread then decrypt in one pool job (an older build lacks it: src/xts/io.ts falls back). */
  sectorsReadAsync?(
    key: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
    fd: number,
    position: number,
  ): Promise<void>
  /** Encrypt then pwrite in one pool job (optional, as sectorsReadAsync). */
  sectorsWriteAsync?(
    key: Uint8Array,
    data: Uint8Array,
    firstSector: number,
    sectorSize: number,
    fd: number,
    position: number,
  ): Promise<void>
  /**
   * Many sectorsWriteAsync in one pool job: `items` is flat, [data, firstSector, position] per
   * write (1 to 1024 writes); undefined when all were written, else null or an error per item.
   */
  sectorsWriteManyAsync?(
    key: Uint8Array,
    sectorSize: number,
    fd: number,
    items: readonly (Uint8Array | number)[],
  ): Promise<undefined | (Error | null)[]>
  sectorsFromAsync(
    enc: boolean,
    key: Uint8Array,
    map: unknown,
    mapOffset: number,
    dst: Uint8Array,
    firstSector: number,
    sectorSize: number,
  ): Promise<void>
}

const METHODS = [
  'sectors',
  'sectorsAsync',
  'reencrypt',
  'reencryptAsync',
  'transform',
  'mapInput',
  'unmapInput',
  'sectorsFromAsync',
] as const

/**
 * The addon built by the package's install hook (node-gyp, native/build/Release). This module
 * sits at dist/src/xts/ once compiled; the second candidate serves a TypeScript runner on src/.
 */
const candidates = [
  '../../../native/build/Release/ward_xts.node',
  '../../native/build/Release/ward_xts.node',
]

function load(): NativeXts | undefined {
  const require = createRequire(import.meta.url)
  for (const rel of candidates) {
    const path = new URL(rel, import.meta.url).pathname
    if (!existsSync(path)) continue
    try {
      const mod = require(path) as Partial<NativeXts>
      // An older build without every method is treated as absent (rebuild to get it back).
      if (METHODS.every((m) => typeof mod[m] === 'function')) return mod as NativeXts
    } catch {
      // A stale build for another Node ABI: fall back to node:crypto, which is correct, only slower.
    }
  }
  return undefined
}

/** The loaded addon, or undefined when it is not built (the node:crypto baseline is used). */
export const native: NativeXts | undefined = load()
