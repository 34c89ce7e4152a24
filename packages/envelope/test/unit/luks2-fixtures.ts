import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Shared by the luks2-* and disk-* tests: temp dirs, images, and the two independent peers. */

/** Small keyslot KDF costs for tests (the defaults take 1 GiB and seconds): 32 MiB x 4 passes. */
export const SMALL_ARGON2 = {
  type: 'argon2id',
  memory: 32768,
  iterations: 4,
  parallelism: 1,
} as const
/** cryptsetup's minimum PBKDF2 iterations. */
export const SMALL_PBKDF2 = { type: 'pbkdf2', iterations: 1000 } as const

export interface Tmp {
  readonly dir: string
  path(name: string): string
  /** A file of `bytes` random bytes. */
  random(name: string, bytes: number): string
  /** A 0600 file with this content. */
  secret(name: string, content: Uint8Array | string): string
  cleanup(): void
}

export function tmp(prefix = 'ward-luks2-'): Tmp {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {
    dir,
    path: (name) => join(dir, name),
    random(name, bytes) {
      const p = join(dir, name)
      writeFileSync(p, randomBytes(bytes))
      return p
    },
    secret(name, content) {
      const p = join(dir, name)
      writeFileSync(p, content, { mode: 0o600 })
      chmodSync(p, 0o600)
      return p
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** Run cryptsetup; returns status and output (never throws). */
export function cryptsetup(args: readonly string[]): {
  status: number
  stdout: string
  stderr: string
} {
  const r = spawnSync('cryptsetup', args, { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

/** The volume key that `cryptsetup luksDump --dump-volume-key` prints, as bytes. */
export function dumpVolumeKey(disk: string, passFile: string): Uint8Array {
  const r = cryptsetup([
    'luksDump',
    '--dump-volume-key',
    '--key-file',
    passFile,
    '--batch-mode',
    disk,
  ])
  if (r.status !== 0) throw new Error(`luksDump --dump-volume-key failed: ${r.stderr}`)
  const m = /MK dump:\s*((?:[0-9a-f]{2}\s+)+)/.exec(r.stdout)
  if (!m?.[1]) throw new Error('no MK dump in luksDump output')
  return new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'hex'))
}

const PY_XTS = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = bytes.fromhex(sys.stdin.readline().strip())
mode, src, off, length, dst, ss = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
with open(src, 'rb') as f:
    f.seek(off)
    data = f.read(length)
out = bytearray()
for i in range(len(data) // ss):
    c = Cipher(algorithms.AES(key), modes.XTS(i.to_bytes(16, 'little')))
    x = c.decryptor() if mode == 'dec' else c.encryptor()
    out += x.update(data[i * ss:(i + 1) * ss]) + x.finalize()
with open(dst, 'r+b' if mode == 'enc-into' else 'wb') as f:
    if mode == 'enc-into':
        f.seek(off)
    f.write(out)
`

/**
 * aes-xts-plain64 by python3-cryptography (an independent implementation): tweak = sector number
 * (little-endian) counted in `sectorSize` units from the start of the region.
 * 'dec': decrypt src[off, off+length) into a new file dst. 'enc': encrypt into a new file dst.
 */
export function pythonXts(
  mode: 'dec' | 'enc',
  key: Uint8Array,
  src: string,
  off: number,
  length: number,
  dst: string,
  sectorSize = 4096,
): void {
  execFileSync(
    '/usr/bin/python3',
    ['-c', PY_XTS, mode, src, String(off), String(length), dst, String(sectorSize)],
    {
      input: `${Buffer.from(key).toString('hex')}\n`,
      timeout: 60_000,
    },
  )
}

export const same = (a: string, b: string): boolean => readFileSync(a).equals(readFileSync(b))

import { decodeBinaryHeader, encodeBinaryHeader, headerChecksum } from '../../src/luks2/header.js'

/**
 * Rewrite both header copies with `jsonText` (raw, unvalidated: for hostile-input tests), valid
 * checksums and seqid + 1, so only the metadata content is wrong.
 */
export function resealJson(disk: string, jsonText: string | Uint8Array): void {
  const fd = openSync(disk, 'r+')
  try {
    const first = Buffer.alloc(4096)
    readSync(fd, first, 0, 4096, 0)
    const hdr = decodeBinaryHeader(new Uint8Array(first))
    const size = Number(hdr.hdrSize)
    const area = new Uint8Array(size - 4096)
    const text = typeof jsonText === 'string' ? new TextEncoder().encode(jsonText) : jsonText
    area.set(text.subarray(0, area.length))
    for (const secondary of [false, true]) {
      const bin = encodeBinaryHeader({
        ...hdr,
        magic: secondary ? Uint8Array.of(0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe) : hdr.magic,
        seqid: hdr.seqid + 1n,
        hdrOffset: BigInt(secondary ? size : 0),
        csum: new Uint8Array(64),
      })
      bin.set(headerChecksum('sha256', bin, area), 448)
      writeSync(fd, bin, 0, bin.length, secondary ? size : 0)
      writeSync(fd, area, 0, area.length, (secondary ? size : 0) + 4096)
    }
  } finally {
    closeSync(fd)
  }
}

/** The JSON metadata of the primary header copy, parsed. */
export function readJson(disk: string): Record<string, unknown> {
  const area = Buffer.alloc(12288)
  const fd = openSync(disk, 'r')
  readSync(fd, area, 0, area.length, 4096)
  closeSync(fd)
  return JSON.parse(area.subarray(0, area.indexOf(0)).toString('utf8')) as Record<string, unknown>
}
