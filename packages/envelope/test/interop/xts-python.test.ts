// Interop: Ward's aes-xts-plain64 sectors against an independent implementation, the XTS of
// python3-cryptography (Debian's /usr/bin/python3), in both directions, on many sectors and on
// sector numbers past 2^32 (the high word of the plain64 tweak).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  xtsDecryptSectors,
  xtsDecryptSectorsAsync,
  xtsEncryptSectors,
  xtsEncryptSectorsAsync,
} from '../../src/xts/xts.js'

const run = promisify(execFile)

// The key travels in a 0600 file, never on the command line.
const PY = `
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
keyf, inf, outf, first, ss, mode = sys.argv[1:]
key = open(keyf, 'rb').read()
data = open(inf, 'rb').read()
first, ss = int(first), int(ss)
assert len(key) == 64 and len(data) % ss == 0
out = bytearray()
for i in range(len(data) // ss):
    c = Cipher(algorithms.AES(key), modes.XTS((first + i).to_bytes(16, 'little')))
    x = c.encryptor() if mode == 'enc' else c.decryptor()
    out += x.update(data[i * ss:(i + 1) * ss]) + x.finalize()
open(outf, 'wb').write(out)
`

async function python(
  dir: string,
  mode: 'enc' | 'dec',
  key: Uint8Array,
  data: Uint8Array,
  first: number,
  ss: number,
): Promise<Buffer> {
  const k = join(dir, 'key'),
    i = join(dir, 'in'),
    o = join(dir, 'out')
  await writeFile(k, key, { mode: 0o600 })
  await writeFile(i, data)
  await run('/usr/bin/python3', ['-c', PY, k, i, o, String(first), String(ss), mode], {
    timeout: 60_000,
  })
  return readFile(o)
}

const cases: [ss: number, sectors: number, first: number][] = [
  [4096, 320, 2 ** 32 - 160], // 1.25 MiB: the async path splits it; crosses 2^32
  [512, 600, 2 ** 40 + 7],
  [4096, 17, 0],
]

test('python3-cryptography XTS agrees with Ward on aes-xts-plain64 sectors, both ways', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ward-xts-py-'))
  try {
    for (const [ss, n, first] of cases) {
      const key = randomBytes(64)
      const pt = randomBytes(ss * n)
      const what = `ss=${ss} n=${n} first=${first}`

      const theirs = await python(dir, 'enc', key, pt, first, ss)
      const mine = Buffer.from(pt)
      xtsEncryptSectors(key, mine, first, ss)
      assert.ok(mine.equals(theirs), `${what}: sync ciphertext differs from python`)
      const mineAsync = Buffer.from(pt)
      await xtsEncryptSectorsAsync(key, mineAsync, first, ss)
      assert.ok(mineAsync.equals(theirs), `${what}: async ciphertext differs from python`)

      // Ward decrypts python's ciphertext; python decrypts Ward's.
      const back = Buffer.from(theirs)
      xtsDecryptSectors(key, back, first, ss)
      assert.ok(back.equals(pt), `${what}: Ward cannot decrypt python's output`)
      const backAsync = Buffer.from(theirs)
      await xtsDecryptSectorsAsync(key, backAsync, first, ss)
      assert.ok(backAsync.equals(pt), `${what}: async decrypt of python's output`)
      const theirsBack = await python(dir, 'dec', key, mine, first, ss)
      assert.ok(theirsBack.equals(pt), `${what}: python cannot decrypt Ward's output`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
