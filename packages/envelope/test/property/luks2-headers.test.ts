import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  copyFileSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import fc from 'fast-check'
import { decryptDisk, describeDisk, encryptDisk } from '../../src/index.js'
import { readVolume } from '../../src/luks2/volume.js'
import { readJson, resealJson, tmp, SMALL_PBKDF2 } from '../unit/luks2-fixtures.js'

// Random and mutated LUKS2 headers only ever produce coded errors (ERR_*), never a crash, never
// wrong data from a header whose checksums fail, and never a modified input.

const t = tmp('ward-luks2-prop-')
after(() => t.cleanup())
const kek = new Uint8Array(randomBytes(32))
const pass = new TextEncoder().encode('pw')
const raw = t.random('raw', 32 * 1024)
const good = t.path('good.luks')
const work = t.path('work.luks')
const HEAD = 2 * 16384 + 258048 // both header copies and the keyslot area
let original: Buffer

before(async () => {
  await encryptDisk(raw, good, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_PBKDF2,
  })
  copyFileSync(good, work)
  original = readFileSync(good).subarray(0, HEAD)
})

const isCoded = (e: unknown): boolean =>
  /^ERR_[A-Z0-9_]+$/.test(String((e as { code?: unknown }).code))

function headOf(p: string): Buffer {
  const b = Buffer.alloc(HEAD)
  const fd = openSync(p, 'r')
  readSync(fd, b, 0, HEAD, 0)
  closeSync(fd)
  return b
}
function restore(): void {
  const fd = openSync(work, 'r+')
  writeSync(fd, original, 0, HEAD, 0)
  closeSync(fd)
}

/** Describe and decrypt (KEK and passphrase); each succeeds or throws a coded error. */
async function exercise(requireCorrect: boolean): Promise<void> {
  const before = headOf(work)
  try {
    describeDisk(work)
  } catch (e) {
    assert.ok(isCoded(e), `describe: ${String(e)}`)
  }
  for (const unlock of [{ kek }, { passphrase: pass }]) {
    const out = t.path('out')
    rmSync(out, { force: true })
    try {
      await decryptDisk(work, out, { unlock })
      if (requireCorrect)
        assert.ok(
          readFileSync(out).equals(readFileSync(raw)),
          'a header that passes its checks yields the right data',
        )
    } catch (e) {
      assert.ok(isCoded(e), `decrypt: ${String(e)}`)
    }
  }
  assert.ok(headOf(work).equals(before), 'reads never modify the input')
}

test('random files: readVolume only throws coded errors', () => {
  const file = t.path('random')
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40000 }), fc.boolean(), (bytes, magic) => {
      if (magic && bytes.length >= 6)
        bytes.set([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe, 0, 2].slice(0, Math.min(8, bytes.length)))
      writeFileSync(file, bytes)
      const fd = openSync(file, 'r')
      try {
        readVolume(fd)
        assert.fail('random bytes parsed as LUKS2')
      } catch (e) {
        assert.ok(isCoded(e), String(e))
      } finally {
        closeSync(fd)
      }
    }),
    { numRuns: 150, seed: 0x5eed },
  )
})

test('byte mutations of the header copies and keyslot area: coded errors or the right data', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          at: fc.oneof(
            fc.nat(4095),
            fc.nat(HEAD - 1),
            fc.integer({ min: 16384, max: 16384 + 4095 }),
          ),
          value: fc.nat(255),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      async (muts) => {
        const fd = openSync(work, 'r+')
        for (const m of muts) writeSync(fd, Uint8Array.of(m.value), 0, 1, m.at)
        closeSync(fd)
        try {
          await exercise(true)
        } finally {
          restore()
        }
      },
    ),
    { numRuns: 40, seed: 0xd15c },
  )
})

type Json = unknown
function paths(
  v: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix)
  if (v && typeof v === 'object')
    for (const [k, c] of Object.entries(v))
      paths(c, [...prefix, Array.isArray(v) ? Number(k) : k], out)
  return out
}

test('JSON mutations under valid checksums: coded errors only', async () => {
  const base = readJson(good)
  const all = paths(base).filter((p) => p.length > 0)
  await fc.assert(
    fc.asyncProperty(
      fc.nat(all.length - 1),
      fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
      async (i, value) => {
        const j = structuredClone(base) as Record<string | number, unknown>
        const p = all[i] ?? []
        let node = j
        for (const k of p.slice(0, -1)) node = node[k] as Record<string | number, unknown>
        const last = p[p.length - 1] as string | number
        if (value === undefined) Reflect.deleteProperty(node, last)
        else node[last] = value
        resealJson(work, JSON.stringify(j))
        try {
          await exercise(false)
        } finally {
          restore()
        }
      },
    ),
    { numRuns: 60, seed: 0x15011 },
  )
})
