import { randomBytes } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  linkSync,
  openSync,
  readSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeSync,
  createReadStream,
  createWriteStream,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Transform } from 'node:stream'
import {
  createVmFileDecryptStream,
  createVmFileEncryptStream,
  parseVmFileHeader,
  unwrapKwp,
  wrapKwp,
  EnvelopeError,
} from '@ward/envelope'
import { HostError } from '../errors.js'
import { fsyncDir } from '../util/files.js'
import type { KeyRef } from '../keys/key-cache.js'
import { decodeFields, encodeFields, fixed, magic, str8, u8, type Infer } from './fields.js'

/**
 * A Ward core dump (docs/formats.md "Core dumps"): a clear 4096-byte header naming the host key
 * and holding the dump's random key wrapped by it (AES-KWP), then at offset 4096 a Ward VM file
 * (role core-dump, bound to the VM id) sealed under that dump key. Changing the host key
 * rewrites the header only (a shallow rewrap): the dump's data is not touched.
 */
export const CoreDumpHeader = {
  magic: magic('WARDDMP'),
  version: u8(1, 1),
  /** The host key: its key provider and id in the key cache (`keyID`). */
  hostProviderId: str8(),
  hostKeyId: str8(),
  /** The dump key (32 random bytes), wrapped by the host key with AES-KWP (RFC 5649). */
  wrappedKey: fixed(40),
  /** The VM the memory is from; its id is bound into every chunk of the sealed data. */
  vmId: str8(),
  vmName: str8(),
  /** When the dump was taken (ISO 8601, UTC). */
  created: str8(1, 64),
  /** What the plaintext is: 1 = an ELF core file (QEMU dump-guest-memory). */
  dumpFormat: u8(1, 1),
} as const
export type CoreDumpHeaderValue = Infer<typeof CoreDumpHeader>

/** Where the sealed data starts (like ESXi's `crypto-util envelope extract --offset 4096`). */
export const COREDUMP_DATA_OFFSET = 4096
/** The inner VM file's clear key ids: its "KEK" is the dump key from the header. */
const INNER = { role: 'core-dump', providerId: 'ward-coredump', kekId: 'dump-key' } as const
/** A header being rewritten under a new host key (removed once the rewrite is durable). */
export const REWRAP_SUFFIX = '.rewrap'

const fail =
  (path: string) =>
  (why: string): HostError =>
    new HostError(
      'ERR_HOST_COREDUMP_FORMAT',
      `${path} is not a Ward core dump or its header is damaged (${why}); describe it with ward crypto-util coredump describe, or restore it from a copy`,
    )

function encodeHeader(v: CoreDumpHeaderValue, path: string): Buffer {
  const h = encodeFields(CoreDumpHeader, v, fail(path))
  const block = Buffer.alloc(COREDUMP_DATA_OFFSET)
  h.copy(block)
  return block
}

/** Decode and check a header block (4096 bytes; the padding after the fields must be zero). */
export function parseCoreDumpHeader(block: Uint8Array, path = 'the file'): CoreDumpHeaderValue {
  if (block.length < COREDUMP_DATA_OFFSET) throw fail(path)('shorter than its 4096-byte header')
  const { value, length } = decodeFields(CoreDumpHeader, block, fail(path))
  for (let i = length; i < COREDUMP_DATA_OFFSET; i++)
    if (block[i] !== 0) throw fail(path)('non-zero header padding')
  return value
}

function readBlock(path: string, length: number): Buffer {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    throw new HostError(
      'ERR_HOST_COREDUMP_FORMAT',
      `cannot open ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
  try {
    const b = Buffer.alloc(length)
    const n = readSync(fd, b, 0, length, 0)
    return b.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/** Whether the file at `path` starts with the core dump magic (a damaged header is then its error). */
export function hasCoreDumpMagic(path: string): boolean {
  const m = CoreDumpHeader.magic.value
  let head: Buffer
  try {
    head = readBlock(path, m.length)
  } catch {
    return false
  }
  return head.length === m.length && head.equals(m)
}

/** Read and check the header of the core dump at `path`. */
export function readCoreDumpHeader(path: string): CoreDumpHeaderValue {
  return parseCoreDumpHeader(readBlock(path, COREDUMP_DATA_OFFSET), path)
}

function unwrapDumpKey(h: CoreDumpHeaderValue, hostKey: Uint8Array, path: string): Uint8Array {
  try {
    const k = unwrapKwp(hostKey, h.wrappedKey)
    if (k.length !== 32) throw new Error('not 32 bytes')
    return k
  } catch (e) {
    throw new HostError(
      'ERR_HOST_COREDUMP_WRONG_KEY',
      `this key does not open ${path}: the dump is encrypted with host key '${h.hostKeyId}' of provider '${h.hostProviderId}'; give that key (--key-file) or an export of it (--key-export with --password-file)`,
      { hostKeyId: h.hostKeyId },
      { cause: e },
    )
  }
}

/**
 * Start a core dump: a fresh dump key wrapped by `hostKey`, the header block, and the Transform
 * that seals the plaintext (the header block goes first in the file, then the transform's output).
 */
export function sealCoreDump(o: {
  readonly hostKey: Uint8Array
  readonly hostKeyRef: KeyRef
  readonly vmId: string
  readonly vmName: string
}): { header: Buffer; seal: Transform } {
  const dumpKey = new Uint8Array(randomBytes(32))
  try {
    const header = encodeHeader(
      {
        version: 1,
        hostProviderId: o.hostKeyRef.providerId,
        hostKeyId: o.hostKeyRef.kekId,
        wrappedKey: wrapKwp(o.hostKey, dumpKey),
        vmId: o.vmId,
        vmName: o.vmName,
        created: new Date().toISOString(),
        dumpFormat: 1,
      },
      'the new dump',
    )
    // the sealer keeps its own copy of the key material it derives
    const seal = createVmFileEncryptStream({ vmId: o.vmId, ...INNER }, dumpKey)
    return { header, seal }
  } finally {
    dumpKey.fill(0)
  }
}

/** What a core dump says without its key: never key material. */
export interface CoreDumpDescription {
  readonly format: 'ward-coredump'
  readonly version: number
  readonly hostProviderId: string
  /** The host key that opens it (ESXi's `keyID`). */
  readonly hostKeyId: string
  readonly vmId: string
  readonly vmName: string
  readonly created: string
  readonly dumpFormat: 'elf'
  readonly cipher: 'aes-256-gcm'
  readonly chunkSize: number
  readonly dataOffset: number
  readonly fileSize: number
  /** The ELF file's size, as implied by the file size. */
  readonly plaintextSize: number
}

/** Describe a core dump from its headers. */
export function describeCoreDump(path: string): CoreDumpDescription {
  const head = readBlock(path, COREDUMP_DATA_OFFSET + 1024)
  const h = parseCoreDumpHeader(head, path)
  let inner
  try {
    inner = parseVmFileHeader(head.subarray(COREDUMP_DATA_OFFSET))
  } catch (e) {
    if (e instanceof EnvelopeError) throw fail(path)(`sealed data: ${e.code}`)
    throw e
  }
  const fd = openSync(path, 'r')
  let fileSize: number
  try {
    fileSize = fstatSync(fd).size
  } finally {
    closeSync(fd)
  }
  const cs = inner.header.chunkSize
  const data = fileSize - COREDUMP_DATA_OFFSET - inner.bytes.length
  const chunks = Math.max(1, Math.ceil(data / (cs + 16)))
  return {
    format: 'ward-coredump',
    version: h.version,
    hostProviderId: h.hostProviderId,
    hostKeyId: h.hostKeyId,
    vmId: h.vmId,
    vmName: h.vmName,
    created: h.created,
    dumpFormat: 'elf',
    cipher: inner.header.cipher,
    chunkSize: cs,
    dataOffset: COREDUMP_DATA_OFFSET,
    fileSize,
    plaintextSize: Math.max(0, data - chunks * 16),
  }
}

/**
 * Decrypt a core dump into `out` (0600, never overwritten) with the raw host key. Every chunk is
 * authenticated; the output is written to a temporary file next to `out` and appears complete or
 * not at all (a wrong key or a damaged file leaves nothing behind).
 */
export async function decryptCoreDump(
  path: string,
  out: string,
  hostKey: Uint8Array,
): Promise<{ bytes: number; header: CoreDumpHeaderValue }> {
  const h = parseCoreDumpHeader(readBlock(path, COREDUMP_DATA_OFFSET), path)
  if (existsSync(out))
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `${out} exists: choose another output file (decrypt never overwrites)`,
    )
  const dumpKey = unwrapDumpKey(h, hostKey, path)
  const tmp = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.tmp`)
  let bytes = 0
  try {
    const open = createVmFileDecryptStream(dumpKey, { vmId: h.vmId, role: INNER.role })
    open.on('data', (d: Buffer) => (bytes += d.length))
    await pipeline(
      createReadStream(path, { start: COREDUMP_DATA_OFFSET }),
      open,
      createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
    )
    const fd = openSync(tmp, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    linkSync(tmp, out) // fails if `out` appeared meanwhile: never overwritten
    unlinkSync(tmp)
    fsyncDir(dirname(out))
    return { bytes, header: h }
  } catch (e) {
    rmSync(tmp, { force: true })
    if (e instanceof EnvelopeError)
      throw new HostError(
        'ERR_HOST_COREDUMP_WRONG_KEY',
        `${path} does not decrypt (${e.code}): the sealed data was changed, cut or moved from another VM's dump; nothing was written`,
        { envelopeCode: e.code },
        { cause: e },
      )
    throw e
  } finally {
    dumpKey.fill(0)
  }
}

/** Write a header block at offset 0 of `path`, durably. */
function writeHeaderBlock(path: string, block: Buffer): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, block, 0, block.length, 0)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Shallow rewrap: the dump key unwrapped with `oldKey`, wrapped by `newKey`, the header rewritten
 * in place (data untouched). Crash-safe: the new header goes to `<dump>.rewrap` first (fsynced),
 * then into the dump; `finishRewraps` completes one interrupted in between.
 */
export function rewrapCoreDump(
  path: string,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  newRef: KeyRef,
): void {
  const h = parseCoreDumpHeader(readBlock(path, COREDUMP_DATA_OFFSET), path)
  const dumpKey = unwrapDumpKey(h, oldKey, path)
  let block: Buffer
  try {
    block = encodeHeader(
      {
        ...h,
        hostProviderId: newRef.providerId,
        hostKeyId: newRef.kekId,
        wrappedKey: wrapKwp(newKey, dumpKey),
      },
      path,
    )
  } finally {
    dumpKey.fill(0)
  }
  const side = `${path}${REWRAP_SUFFIX}`
  const fd = openSync(side, 'w', 0o600)
  try {
    writeSync(fd, block)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  fsyncDir(dirname(path))
  writeHeaderBlock(path, block)
  unlinkSync(side)
  fsyncDir(dirname(path))
}

/**
 * After a crash during a rewrap: a complete `<dump>.rewrap` header is written into its dump (it
 * was fsynced before the dump was touched); a cut one is dropped (the dump was not touched yet).
 */
export function finishRewraps(folder: string): string[] {
  const done: string[] = []
  if (!existsSync(folder)) return done
  for (const f of readdirSync(folder)) {
    if (!f.endsWith(REWRAP_SUFFIX)) continue
    const side = join(folder, f)
    const dump = side.slice(0, -REWRAP_SUFFIX.length)
    const block = readBlock(side, COREDUMP_DATA_OFFSET + 1)
    let ok = block.length === COREDUMP_DATA_OFFSET && existsSync(dump)
    if (ok)
      try {
        parseCoreDumpHeader(block, side)
      } catch {
        ok = false
      }
    if (ok) {
      writeHeaderBlock(dump, block)
      done.push(dump)
    }
    unlinkSync(side)
    fsyncDir(folder)
  }
  return done
}
