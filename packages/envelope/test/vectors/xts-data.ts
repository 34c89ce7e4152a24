// Readers for the XTS vector files in test/vectors/data/xts (see PROVENANCE.md there).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** One XTS data unit: key1 ‖ key2, the 16-byte tweak, plaintext and ciphertext. */
export interface XtsVector {
  readonly id: string
  readonly key: Buffer
  readonly tweak: Buffer
  readonly pt: Buffer
  readonly ct: Buffer
}

// Compiled to dist/test/vectors/; the data stays in the source tree.
const dataDir = fileURLToPath(new URL('../../../test/vectors/data/xts/', import.meta.url))
const read = (name: string): string => readFileSync(dataDir + name, 'utf8')
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

function padTweak(t: Buffer): Buffer {
  if (t.length > 16) throw new Error('tweak longer than 16 bytes')
  const out = Buffer.alloc(16)
  t.copy(out)
  return out
}

/** IEEE Std 1619-2007 Annex B, vectors 1-19 (derived JSON). */
export function ieee1619(): XtsVector[] {
  const doc = JSON.parse(read('xts_aes_ieee1619_2007_annexB.json')) as {
    vectors: { vector: number; key: string; tweak: string; plaintext: string; ciphertext: string }[]
  }
  return doc.vectors.map((v) => ({
    id: `IEEE 1619 vector ${v.vector}`,
    key: hex(v.key),
    tweak: hex(v.tweak),
    pt: hex(v.plaintext),
    ct: hex(v.ciphertext),
  }))
}

export interface WycheproofXts extends XtsVector {
  readonly keySize: number
  readonly result: string
}

/** Wycheproof testvectors_v1/aes_xts_test.json; `iv` is the leading bytes of the tweak. */
export function wycheproof(): WycheproofXts[] {
  const doc = JSON.parse(read('wycheproof_aes_xts_test.json')) as {
    numberOfTests: number
    testGroups: {
      keySize: number
      tests: { tcId: number; key: string; iv: string; msg: string; ct: string; result: string }[]
    }[]
  }
  const out: WycheproofXts[] = []
  for (const g of doc.testGroups)
    for (const t of g.tests) {
      const tweak = padTweak(hex(t.iv))
      out.push({
        id: `Wycheproof tcId ${t.tcId}`,
        keySize: g.keySize,
        result: t.result,
        key: hex(t.key),
        tweak,
        pt: hex(t.msg),
        ct: hex(t.ct),
      })
    }
  if (out.length !== doc.numberOfTests) throw new Error('wycheproof: test count mismatch')
  return out
}

/** Crypto++ TestVectors/xts.txt: `Name: value` fields, `\` continues a line, `Test:` ends a record. */
export function cryptopp(): XtsVector[] {
  const lines = read('cryptopp_xts.txt').replace(/\r/g, '').split('\n')
  const out: XtsVector[] = []
  let rec: Record<string, string> = {}
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!
    if (line.startsWith('#') || line.trim() === '') continue
    while (line.trimEnd().endsWith('\\') && i + 1 < lines.length)
      line = line.trimEnd().slice(0, -1) + lines[++i]!
    const m = /^(\w+):\s*(.*)$/.exec(line)
    if (!m) throw new Error(`cryptopp: unparsed line ${i + 1}`)
    rec[m[1]!] = m[2]!.trim()
    if (m[1] === 'Test') {
      if (rec.Test !== 'Encrypt') throw new Error(`cryptopp: unknown test ${rec.Test}`)
      out.push({
        id: `Crypto++ record ${out.length + 1} (${rec.Comment ?? rec.Source})`,
        key: hex(rec.Key!),
        tweak: hex(rec.IV!),
        pt: hex(rec.Plaintext!),
        ct: hex(rec.Ciphertext!),
      })
      rec = {}
    }
  }
  return out
}

/** Botan src/tests/data/modes/xts.vec, its [AES-128/XTS] and [AES-256/XTS] sections. */
export function botan(): XtsVector[] {
  const out: XtsVector[] = []
  let section = ''
  let rec: Record<string, string> = {}
  for (const raw of read('botan_xts_aes.vec').split('\n')) {
    const line = raw.trim()
    if (line.startsWith('[')) section = line
    const m = /^(\w+) = ([0-9A-Fa-f]*)$/.exec(line)
    if (!m) continue
    rec[m[1]!] = m[2]!
    if (m[1] === 'Out') {
      out.push({
        id: `Botan ${section} entry ${out.length + 1}`,
        key: hex(rec.Key!),
        tweak: padTweak(hex(rec.Nonce!)), // Botan zero-pads a short nonce (its Wycheproof entry)
        pt: hex(rec.In!),
        ct: hex(rec.Out!),
      })
      rec = {}
    }
  }
  return out
}
