/**
 * Canary (STYLE.md §5): run the main flows with a known key and plaintext, capture every log
 * and audit line, and assert the canary never appears (hex, base64, raw). Then check the
 * database files at rest: the key bytes are nowhere in them, and sealed material moved to
 * another object id does not open (AAD binds the id).
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import {
  Tag,
  Operation,
  BlockCipherMode,
  structure,
  text,
  enumeration,
  bytes,
  find,
  requiredValue,
} from '@ward/kmip'
import { startFixture, P, registerSymmetric } from '../helpers.js'

const canaryKey = Buffer.from(
  'c4a7a2c4a7a2c4a7c4a7a2c4a7a2c4a7c4a7a2c4a7a2c4a7c4a7a2c4a7a2c4a7',
  'hex',
)
const canaryText = Buffer.from('CANARY-PLAINTEXT-8f3e2d1c0b')
const canaryDigest = createHash('sha256').update(canaryKey).digest()
const forms = (b: Buffer): string[] => [
  b.toString('hex'),
  b.toString('base64'),
  b.toString('base64url'),
  b.toString('latin1'),
]

test('no key or plaintext in logs, audit or the database; sealed blobs are bound to their id', async () => {
  const f = await startFixture()
  const c = await f.client('canary', 2, 1)
  const reg = (k: Buffer) => c.call(Operation.Register, registerSymmetric({ key: k, usage: 12 }))
  const id = requiredValue(await reg(canaryKey), Tag.UniqueIdentifier, 'TextString')
  await c.call(Operation.Activate, P(text(Tag.UniqueIdentifier, id)))
  const gcm = structure(Tag.CryptographicParameters, [
    enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
  ])
  const e = await c.call(
    Operation.Encrypt,
    P(text(Tag.UniqueIdentifier, id), gcm, bytes(Tag.Data, canaryText)),
  )
  await c.call(
    Operation.Decrypt,
    P(
      text(Tag.UniqueIdentifier, id),
      gcm,
      bytes(Tag.Data, requiredValue(e, Tag.Data, 'ByteString')),
      bytes(Tag.IVCounterNonce, requiredValue(e, Tag.IVCounterNonce, 'ByteString')),
      bytes(
        Tag.AuthenticatedEncryptionTag,
        requiredValue(e, Tag.AuthenticatedEncryptionTag, 'ByteString'),
      ),
    ),
  )
  // failure paths log too: a bad tag, a malformed message carrying the canary
  await assert.rejects(
    c.call(
      Operation.Decrypt,
      P(
        text(Tag.UniqueIdentifier, id),
        gcm,
        bytes(Tag.Data, canaryText),
        bytes(Tag.IVCounterNonce, Buffer.alloc(12)),
        bytes(Tag.AuthenticatedEncryptionTag, Buffer.alloc(16)),
      ),
    ),
  )
  await c.sendRaw(
    Buffer.concat([
      Buffer.from('4200780100000028', 'hex'),
      Buffer.from('420094080000002000000000', 'hex').subarray(0, 8),
      canaryKey,
    ]),
  )
  await c.call(Operation.Get, P(text(Tag.UniqueIdentifier, id)))
  // The Digest (unsalted SHA-256 of the key, KMIP 1.4 §3.17) is served and searchable, but never
  // logged or audited beside the key id (issue 10): read it, and Locate by it.
  const digest = find(
    find(
      await c.call(
        Operation.GetAttributes,
        P(text(Tag.UniqueIdentifier, id), enumeration(Tag.AttributeReference, Tag.Digest)),
      ),
      Tag.Attributes,
    ),
    Tag.Digest,
  )
  assert.deepEqual(
    Buffer.from(requiredValue(digest, Tag.DigestValue, 'ByteString')),
    canaryDigest,
    'Digest is SHA-256 of the Raw key',
  )
  const located = await c.call(Operation.Locate, P(structure(Tag.Attributes, [digest!])))
  assert.equal(requiredValue(located, Tag.UniqueIdentifier, 'TextString'), id)
  const other = requiredValue(await reg(Buffer.alloc(32, 7)), Tag.UniqueIdentifier, 'TextString')
  await f.server.close()

  const audit = readFileSync(join(f.dir, 'audit.log'), 'utf8')
  assert.match(audit, /"operation":"encrypt"/)
  assert.ok(f.logLines.length > 5, 'logs were captured')
  const haystack = [...f.logLines, audit].join('\n')
  for (const s of [...forms(canaryKey), ...forms(canaryText), canaryText.toString('utf8')])
    assert.ok(!haystack.includes(s), 'canary leaked into logs')
  for (const s of forms(canaryDigest))
    assert.ok(!haystack.includes(s), 'the key Digest reached the logs or audit.log')

  // at rest: the DB (and WAL) never hold the key bytes
  for (const file of ['kms.db', 'kms.db-wal']) {
    const p = join(f.dir, file)
    if (!existsSync(p)) continue
    const raw = readFileSync(p)
    assert.equal(raw.indexOf(canaryKey), -1, `${file} holds the key bytes`)
    assert.ok(
      !raw.toString('latin1').includes(canaryKey.toString('hex')),
      `${file} holds the key hex`,
    )
  }
  // swap the sealed blobs of two objects: neither opens (Get fails instead of returning a key)
  const db = new Database(join(f.dir, 'kms.db'))
  const m1 = (
    db.prepare('SELECT material FROM kms_objects WHERE id = ?').get(id) as { material: Buffer }
  ).material
  const m2 = (
    db.prepare('SELECT material FROM kms_objects WHERE id = ?').get(other) as { material: Buffer }
  ).material
  db.prepare('UPDATE kms_objects SET material = ? WHERE id = ?').run(m2, id)
  db.prepare('UPDATE kms_objects SET material = ? WHERE id = ?').run(m1, other)
  db.close()
  const f2 = await startFixture({ dataDir: f.dir })
  try {
    const c2 = await f2.client('canary', 2, 1)
    await assert.rejects(
      c2.call(Operation.Get, P(text(Tag.UniqueIdentifier, id))),
      (err: { reason?: number }) => err.reason === 256,
    )
  } finally {
    await f2.close()
  }
  const { rmSync } = await import('node:fs')
  rmSync(f.dir, { recursive: true, force: true })
})
