import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { tempDir } from '../helpers/harness.js'
import {
  COREDUMP_DATA_OFFSET,
  decryptCoreDump,
  describeCoreDump,
  finishRewraps,
  parseCoreDumpHeader,
  readCoreDumpHeader,
  rewrapCoreDump,
  sealCoreDump,
} from '../../src/crypto-state/coredump-file.js'
import {
  describeHostKeyExport,
  exportHostKey,
  openHostKeyExport,
} from '../../src/crypto-state/key-export.js'
import {
  CRYPTO_TRANSITIONS,
  HOST_CRYPTO_STATES,
  transition,
} from '../../src/crypto-state/states.js'

/** assert.rejects/throws predicate: the error has this code. */
const coded =
  (code: string) =>
  (e: unknown): boolean => {
    assert.equal((e as { code?: string }).code, code, String(e))
    return true
  }

const FAST_KDF = { memoryKiB: 1024, passes: 1, parallelism: 1 }

/** A core dump of `plain` sealed under `hostKey` (as the agent writes it, minus QEMU). */
async function makeDump(path: string, plain: Buffer, hostKey: Uint8Array, kekId = 'hk-1') {
  const { header, seal } = sealCoreDump({
    hostKey,
    hostKeyRef: { providerId: 'kp1', kekId },
    vmId: 'vm-id-1',
    vmName: 'vm1',
  })
  const parts: Buffer[] = [header]
  await pipeline(
    Readable.from([plain]),
    seal,
    new Writable({
      write(c: Buffer, _e, cb) {
        parts.push(Buffer.from(c))
        cb()
      },
    }),
  )
  writeFileSync(path, Buffer.concat(parts), { mode: 0o600 })
}

test('core dump: sealed under the host key, describe names it, decrypt gives the bytes back; a wrong key or a changed byte leaves no output', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const hk = new Uint8Array(randomBytes(32))
  const plain = Buffer.concat([Buffer.from('\x7fELF'), randomBytes(300_000)])
  const f = join(dir, 'a.coredump')
  await makeDump(f, plain, hk)
  const file = readFileSync(f)
  assert.equal(file.includes(plain.subarray(0, 64)), false, 'no plaintext in the dump')
  assert.equal(file.includes(Buffer.from(hk)), false, 'no host key in the dump')
  const d = describeCoreDump(f)
  assert.equal(d.hostKeyId, 'hk-1')
  assert.equal(d.hostProviderId, 'kp1')
  assert.equal(d.vmId, 'vm-id-1')
  assert.equal(d.plaintextSize, plain.length)
  assert.equal(d.dataOffset, COREDUMP_DATA_OFFSET)
  const out = join(dir, 'a.elf')
  const r = await decryptCoreDump(f, out, hk)
  assert.equal(r.bytes, plain.length)
  assert.ok(readFileSync(out).equals(plain))
  assert.equal(statSync(out).mode & 0o777, 0o600)
  // never overwrites
  await assert.rejects(decryptCoreDump(f, out, hk), coded('ERR_HOST_BAD_ARGUMENT'))
  // a wrong key: coded, nothing written
  const out2 = join(dir, 'b.elf')
  await assert.rejects(decryptCoreDump(f, out2, new Uint8Array(randomBytes(32))), (e: Error) => {
    assert.equal((e as { code?: string }).code, 'ERR_HOST_COREDUMP_WRONG_KEY')
    assert.match(e.message, /hk-1/)
    return true
  })
  // one changed byte in the sealed data: refused, no output or temp file left
  const bad = Buffer.from(file)
  bad[COREDUMP_DATA_OFFSET + 200_000]! ^= 1
  const fb = join(dir, 'bad.coredump')
  writeFileSync(fb, bad)
  await assert.rejects(decryptCoreDump(fb, out2, hk), coded('ERR_HOST_COREDUMP_WRONG_KEY'))
  assert.equal(existsSync(out2), false)
  assert.deepEqual(
    readdirSync(dir).filter((x) => x.endsWith('.tmp')),
    [],
    'no temp file left behind',
  )
  // a changed VM id in the clear header: the sealed data is bound to it
  const h = parseCoreDumpHeader(file)
  const moved = Buffer.from(file)
  const at = moved.indexOf(Buffer.from(h.vmId))
  moved[at] = 'X'.charCodeAt(0)
  writeFileSync(fb, moved)
  await assert.rejects(decryptCoreDump(fb, out2, hk), coded('ERR_HOST_COREDUMP_WRONG_KEY'))
  // header bounds: non-zero padding, cut short, bad magic
  const pad = Buffer.from(file)
  pad[COREDUMP_DATA_OFFSET - 1] = 1
  assert.throws(() => parseCoreDumpHeader(pad), coded('ERR_HOST_COREDUMP_FORMAT'))
  assert.throws(() => parseCoreDumpHeader(file.subarray(0, 100)), /4096/)
  const magic = Buffer.from(file)
  magic[0] = 0
  assert.throws(() => parseCoreDumpHeader(magic), /bad magic/)
})

test('core dump: a shallow rewrap changes the header only; the old key stops working; an interrupted rewrap is finished', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const k1 = new Uint8Array(randomBytes(32))
  const k2 = new Uint8Array(randomBytes(32))
  const plain = randomBytes(200_000)
  const f = join(dir, 'a.coredump')
  await makeDump(f, plain, k1)
  const before = readFileSync(f)
  rewrapCoreDump(f, k1, k2, { providerId: 'kp2', kekId: 'hk-2' })
  const after = readFileSync(f)
  assert.ok(
    after.subarray(COREDUMP_DATA_OFFSET).equals(before.subarray(COREDUMP_DATA_OFFSET)),
    'the sealed data is not rewritten',
  )
  assert.equal(readCoreDumpHeader(f).hostKeyId, 'hk-2')
  assert.equal(existsSync(`${f}.rewrap`), false)
  await assert.rejects(decryptCoreDump(f, join(dir, 'x'), k1), coded('ERR_HOST_COREDUMP_WRONG_KEY'))
  await decryptCoreDump(f, join(dir, 'y'), k2)
  assert.ok(readFileSync(join(dir, 'y')).equals(plain))
  // a crash after the new header was written aside, before the dump was: finished at the next run
  const g = join(dir, 'b.coredump')
  await makeDump(g, plain, k1)
  const copy = join(dir, 'copy.bin')
  writeFileSync(copy, readFileSync(g))
  rewrapCoreDump(copy, k1, k2, { providerId: 'kp2', kekId: 'hk-2' })
  const newHeader = readFileSync(copy).subarray(0, COREDUMP_DATA_OFFSET)
  writeFileSync(`${g}.rewrap`, newHeader)
  assert.equal(readCoreDumpHeader(g).hostKeyId, 'hk-1')
  assert.deepEqual(finishRewraps(dir), [g])
  assert.equal(existsSync(`${g}.rewrap`), false)
  assert.equal(readCoreDumpHeader(g).hostKeyId, 'hk-2')
  await decryptCoreDump(g, join(dir, 'z'), k2)
  assert.ok(readFileSync(join(dir, 'z')).equals(plain))
  // a cut sidecar is dropped and the dump left as it was
  writeFileSync(`${g}.rewrap`, newHeader.subarray(0, 100))
  const kept = readFileSync(g)
  assert.deepEqual(finishRewraps(dir), [])
  assert.ok(readFileSync(g).equals(kept))
  assert.equal(existsSync(`${g}.rewrap`), false)
})

test('host key export: argon2id + AES-256-GCM; the right password opens it, a wrong one or a changed byte is refused', async () => {
  const key = new Uint8Array(randomBytes(32))
  const pw = Buffer.from('correct horse battery staple')
  const x = await exportHostKey(key, { providerId: 'kp1', kekId: 'hk-1' }, pw, FAST_KDF)
  assert.equal(x.includes(Buffer.from(key)), false)
  assert.equal(x.includes(pw), false)
  assert.deepEqual(describeHostKeyExport(x), { providerId: 'kp1', kekId: 'hk-1' })
  const o = await openHostKeyExport(x, pw)
  assert.ok(Buffer.from(o.key).equals(Buffer.from(key)))
  assert.equal(o.kekId, 'hk-1')
  await assert.rejects(openHostKeyExport(x, Buffer.from('wrong')), (e: Error) => {
    assert.equal((e as { code?: string }).code, 'ERR_HOST_KEY_EXPORT_PASSWORD')
    assert.match(e.message, /wrong password/)
    return true
  })
  // the header is authenticated: a changed key id fails like a wrong password
  const changed = Buffer.from(x)
  changed[changed.indexOf(Buffer.from('hk-1'))] = 'H'.charCodeAt(0)
  await assert.rejects(openHostKeyExport(changed, pw), coded('ERR_HOST_KEY_EXPORT_PASSWORD'))
  await assert.rejects(
    openHostKeyExport(x.subarray(0, x.length - 1), pw),
    coded('ERR_HOST_KEY_EXPORT_FORMAT'),
  )
  await assert.rejects(
    openHostKeyExport(Buffer.from('not an export'), pw),
    coded('ERR_HOST_KEY_EXPORT_FORMAT'),
  )
  // a hostile export cannot ask for more than 1 GiB of argon2 memory
  const greedy = Buffer.from(x)
  greedy.writeUInt32BE(4 << 20, 9)
  await assert.rejects(openHostKeyExport(greedy, pw), coded('ERR_HOST_KEY_EXPORT_FORMAT'))
})

test('crypto state table: every state, each transition from its states only', () => {
  assert.deepEqual(HOST_CRYPTO_STATES, ['incapable', 'prepared', 'safe', 'pendingIncapable'])
  for (const [op, t] of Object.entries(CRYPTO_TRANSITIONS))
    for (const s of HOST_CRYPTO_STATES) {
      const o = op as keyof typeof CRYPTO_TRANSITIONS
      if ((t.from as readonly string[]).includes(s)) assert.equal(transition(o, s), t.to)
      else assert.throws(() => transition(o, s), coded('ERR_HOST_CRYPTO_STATE'))
    }
})
