/**
 * Destroy removes the key's sealed blob from the SQLite files before it is answered (issue 10,
 * Low): secure_delete zeroes the freed row (and freed overflow pages), and a truncating WAL
 * checkpoint removes the earlier page versions the WAL still held. Checked by reading each
 * object's sealed blob before the Destroy and searching kms.db and kms.db-wal for it after,
 * while the server still runs: a key whose blob was already checkpointed into kms.db, one only
 * in the WAL, and a 64 KiB opaque object stored in overflow pages.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import Database from 'better-sqlite3'
import { ObjectType, Operation, ResultReason, Tag, bytes, enumeration, structure } from '@ward/kmip'
import { P, idOf, startFixture, uid, registerSymmetric } from '../helpers.js'

const symmetric = (key: Buffer) => registerSymmetric({ key, usage: 12 })

/** The sealed material of `ids` as stored, read through a connection of our own (then closed). */
function sealedBlobs(dbPath: string, ids: readonly string[]): Map<string, Buffer> {
  const db = new Database(dbPath, { readonly: true })
  try {
    const q = db.prepare('SELECT material FROM kms_objects WHERE id = ?')
    return new Map(ids.map((id) => [id, Buffer.from((q.get(id) as { material: Buffer }).material)]))
  } finally {
    db.close()
  }
}

/** Where a blob (or any 32-byte window of it) still is in the database files. */
function remnants(dir: string, blob: Buffer): string[] {
  const found: string[] = []
  for (const f of ['kms.db', 'kms.db-wal']) {
    const p = join(dir, f)
    if (!existsSync(p)) continue
    const raw = readFileSync(p)
    if (raw.indexOf(blob) >= 0) found.push(`${f}: whole blob`)
    else
      for (let at = 0; at + 32 <= blob.length; at += Math.max(32, blob.length >> 4))
        if (raw.indexOf(blob.subarray(at, at + 32)) >= 0) {
          found.push(`${f}: bytes ${at}..${at + 32}`)
          break
        }
  }
  return found
}

test('Destroy leaves no copy of the sealed blob in kms.db or kms.db-wal', async () => {
  const f = await startFixture()
  try {
    const c = await f.client('scrub', 2, 1)
    const dbPath = join(f.dir, 'kms.db')
    const early = idOf(await c.call(Operation.Register, symmetric(randomBytes(32))))
    // Move it into kms.db itself: a checkpoint from another connection, as SQLite's autocheckpoint
    // does after 4,000 pages.
    const side = new Database(dbPath)
    side.pragma('wal_checkpoint(TRUNCATE)')
    side.close()
    const late = idOf(await c.call(Operation.Register, symmetric(randomBytes(32))))
    const opaque = idOf(
      await c.call(
        Operation.Register,
        P(
          enumeration(Tag.ObjectType, ObjectType.OpaqueObject),
          structure(Tag.Attributes, []),
          structure(Tag.OpaqueObject, [
            enumeration(Tag.OpaqueDataType, 0x80000001),
            bytes(Tag.OpaqueDataValue, randomBytes(64 * 1024)),
          ]),
        ),
      ),
    )
    // A neighbour that stays: its blob must remain readable.
    const kept = idOf(await c.call(Operation.Register, symmetric(randomBytes(32))))
    const ids = [early, late, opaque]
    const blobs = sealedBlobs(dbPath, [...ids, kept])
    assert.ok(remnants(f.dir, blobs.get(early)!).some((w) => w.startsWith('kms.db:')))
    assert.ok(remnants(f.dir, blobs.get(late)!).some((w) => w.startsWith('kms.db-wal')))
    assert.ok(blobs.get(opaque)!.length > 64 * 1024, 'the opaque blob spans overflow pages')

    for (const id of ids) await c.call(Operation.Destroy, P(uid(id)))

    for (const id of ids)
      assert.deepEqual(remnants(f.dir, blobs.get(id)!), [], `sealed blob of ${id} after Destroy`)
    // The tombstones remain, and the rest of the database is intact.
    await assert.rejects(
      c.call(Operation.Get, P(uid(late))),
      (e: { reason?: number }) => e.reason === ResultReason.ObjectDestroyed,
    )
    assert.ok(idOf(await c.call(Operation.GetAttributes, P(uid(late)))) === late)
    assert.ok(await c.call(Operation.Get, P(uid(kept))))
    assert.deepEqual(sealedBlobs(dbPath, [kept]).get(kept), blobs.get(kept))
  } finally {
    await f.close()
  }
})

test('Destroy while another process reads the database: the blob is gone once the reader ends', async () => {
  const f = await startFixture()
  try {
    const c = await f.client('scrub-busy', 2, 1)
    const dbPath = join(f.dir, 'kms.db')
    const id = idOf(await c.call(Operation.Register, symmetric(randomBytes(32))))
    const blob = sealedBlobs(dbPath, [id]).get(id)!
    // A reader holding a snapshot (as `ward kms status` would for a moment) blocks the truncating
    // checkpoint: the Destroy is still answered at once, the scrub is retried.
    const reader = new Database(dbPath, { readonly: true })
    reader.exec('BEGIN')
    reader.prepare('SELECT COUNT(*) FROM kms_objects').get()
    const t0 = Date.now()
    await c.call(Operation.Destroy, P(uid(id)))
    assert.ok(Date.now() - t0 < 4000, 'the Destroy did not wait for the reader')
    reader.exec('COMMIT')
    reader.close()
    const deadline = Date.now() + 15_000
    while (remnants(f.dir, blob).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(remnants(f.dir, blob), [])
  } finally {
    await f.close()
  }
})
