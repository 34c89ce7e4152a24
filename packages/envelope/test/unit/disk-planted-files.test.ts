import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { decryptDisk, encryptDisk, encryptInPlace, rekeyDeep } from '../../src/index.js'
import { journalPath } from '../../src/disk/journal.js'
import { same, tmp } from './luks2-fixtures.js'

/*
 * Issue 10, finding 7 and its class: files someone else planted beside an output never receive
 * Ward's output (plaintext or ciphertext), are never followed, truncated or renamed into place,
 * and the outputs and the journal are Ward's own, mode 0600.
 */

const t = tmp('ward-planted-')
after(() => t.cleanup())
const KiB = 1024
const kek = new Uint8Array(randomBytes(32))
const ids = { kek, providerId: 'p', kekId: 'k' }
const raw = t.random('raw', 256 * KiB)
const small = { segmentBytes: 64 * KiB }
const disk = t.path('disk.luks')
const ready = encryptDisk(raw, disk, { ...ids, ...small })

/** As root, hand a planted file to another user (the attacker); otherwise it stays ours. */
const ATTACKER = 65534
const asAttacker = (path: string): void => {
  if (process.getuid?.() === 0) chownSync(path, ATTACKER, ATTACKER)
}
const mode = (path: string): number => statSync(path).mode & 0o777
const uid = (): number => process.getuid?.() ?? -1
/** Names in the test folder that look like a temporary output of `out`. */
const temps = (out: string): string[] =>
  readdirSync(t.dir).filter((n) => n.startsWith(`.${out.slice(t.dir.length + 1)}.ward-tmp-`))

/** The three plants of the issue at `name`: a world-writable file, a hard link, a symlink. */
function plant(kind: 'open' | 'hardlink' | 'symlink', name: string): { check(): void } {
  const victim = t.path(`${kind}-${Math.random().toString(16).slice(2)}.victim`)
  const content = `someone else's file ${kind}\n`
  writeFileSync(victim, content)
  chmodSync(victim, 0o666)
  asAttacker(victim)
  if (kind === 'open') {
    writeFileSync(name, content)
    chmodSync(name, 0o666)
    asAttacker(name)
  } else if (kind === 'hardlink') linkSync(victim, name)
  else symlinkSync(victim, name)
  const before = lstatSync(name)
  return {
    check() {
      assert.equal(readFileSync(victim, 'utf8'), content, `${kind}: the victim file is unchanged`)
      assert.equal(mode(victim), 0o666)
      const now = lstatSync(name)
      assert.equal(now.ino, before.ino, `${kind}: the planted file is still there, not renamed`)
      assert.equal(now.mode, before.mode)
      if (kind !== 'symlink') assert.equal(readFileSync(name, 'utf8'), content)
    },
  }
}

for (const kind of ['open', 'hardlink', 'symlink'] as const) {
  test(`decrypt --out: a planted ${kind} OUT.ward-partial is neither reused nor followed`, async () => {
    await ready
    const out = t.path(`dec-${kind}.img`)
    const planted = plant(kind, `${out}.ward-partial`)
    const r = await decryptDisk(disk, out, { unlock: { kek }, ...small })
    assert.equal(r.path, out)
    assert.ok(same(out, raw), 'the output holds the plaintext')
    planted.check()
    const st = statSync(out)
    assert.equal(st.mode & 0o777, 0o600, 'plaintext output is 0600')
    assert.equal(st.uid, uid(), 'the output is ours, not the planted inode')
    assert.equal(st.nlink, 1)
    assert.deepEqual(temps(out), [], 'no temporary file left behind')
  })

  test(`encrypt --out: a planted ${kind} OUT.ward-partial is neither reused nor followed`, async () => {
    const out = t.path(`enc-${kind}.luks`)
    const planted = plant(kind, `${out}.ward-partial`)
    await encryptDisk(raw, out, { ...ids, ...small })
    planted.check()
    const st = statSync(out)
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(st.uid, uid())
    assert.equal(st.nlink, 1)
    await decryptDisk(out, `${out}.back`, { unlock: { kek } })
    assert.ok(same(`${out}.back`, raw))
  })
}

test('the temporary output is a fresh 0600 file with an unpredictable name beside the target', async () => {
  await ready
  const seen: { name: string; mode: number; nlink: number; uid: number }[] = []
  const watch = (out: string) => (done: number) => {
    if (done === 0) return
    for (const n of temps(out)) {
      const st = lstatSync(t.path(n))
      seen.push({ name: n, mode: st.mode, nlink: st.nlink, uid: st.uid })
    }
  }
  const a = t.path('watched-a.img')
  const b = t.path('watched-b.img')
  await decryptDisk(disk, a, { unlock: { kek }, ...small, onProgress: watch(a) })
  const first = seen.length
  await decryptDisk(disk, b, { unlock: { kek }, ...small, onProgress: watch(b) })
  assert.ok(first > 0 && seen.length > first, 'a temporary file existed during each run')
  for (const s of seen) {
    assert.match(s.name, /^\.watched-[ab]\.img\.ward-tmp-[0-9a-f]{16,}$/)
    assert.equal(s.mode & 0o100777, 0o100600, 'a regular file, mode 0600')
    assert.equal(s.nlink, 1)
    assert.equal(s.uid, uid())
  }
  const suffix = (n: string): string => n.slice(n.lastIndexOf('-') + 1)
  assert.notEqual(suffix(seen[0]!.name), suffix(seen[first]!.name), 'names are random')
})

test('a symlink at OUT is refused (ERR_DISK_EXISTS) and its target left alone', async () => {
  await ready
  const victim = t.path('sym-out.victim')
  writeFileSync(victim, 'keep me')
  const out = t.path('sym-out.img')
  symlinkSync(victim, out)
  await assert.rejects(decryptDisk(disk, out, { unlock: { kek } }), { code: 'ERR_DISK_EXISTS' })
  assert.equal(readFileSync(victim, 'utf8'), 'keep me')
  assert.ok(lstatSync(out).isSymbolicLink())
  // a dangling one too
  const dangling = t.path('dangling-out.img')
  symlinkSync(t.path('nowhere'), dangling)
  await assert.rejects(decryptDisk(disk, dangling, { unlock: { kek } }), {
    code: 'ERR_DISK_EXISTS',
  })
  assert.ok(!existsSync(t.path('nowhere')))
})

test('a failed run removes its own files only: a file put in place of the reserved OUT survives', async () => {
  await ready
  const out = t.path('swapped.img')
  await assert.rejects(
    decryptDisk(disk, out, {
      unlock: { kek },
      ...small,
      onProgress: (done) => {
        if (done === 0) return
        unlinkSync(out) // someone replaces the name Ward reserved...
        writeFileSync(out, 'not yours')
        throw new Error('simulated failure') // ...and the run fails
      },
    }),
    { code: 'ERR_DISK_IO' },
  )
  assert.equal(readFileSync(out, 'utf8'), 'not yours')
  assert.deepEqual(temps(out), [])
})

test('in-place encryption narrows a 0644 raw image to 0600, also when resuming', async () => {
  const f = t.path('inplace-644')
  writeFileSync(f, readFileSync(raw))
  chmodSync(f, 0o644)
  await encryptInPlace(f, { ...ids, ...small })
  assert.equal(mode(f), 0o600)

  const g = t.path('inplace-resume')
  writeFileSync(g, readFileSync(raw))
  chmodSync(g, 0o640)
  await assert.rejects(
    encryptInPlace(g, {
      ...ids,
      ...small,
      onProgress: (done) => {
        if (done >= 128 * KiB) throw new Error('simulated crash')
      },
    }),
    { code: 'ERR_DISK_IO' },
  )
  assert.equal(mode(g), 0o600, 'narrowed before the first write')
  chmodSync(g, 0o664)
  const r = await encryptInPlace(g, ids)
  assert.equal(r.resumed, true)
  assert.equal(mode(g), 0o600)
  // an owner-only mode stays as narrow as it was
  const h = t.path('inplace-400')
  writeFileSync(h, readFileSync(raw))
  chmodSync(h, 0o400)
  await encryptInPlace(h, ids)
  assert.equal(mode(h), 0o400)
  await decryptDisk(h, t.path('inplace-400.back'), { unlock: { kek } })
  assert.ok(same(t.path('inplace-400.back'), raw))
})

/** A disk whose in-place encryption was interrupted, and a pristine copy of its journal. */
async function interrupted(name: string): Promise<{ f: string; journal: Buffer }> {
  const f = t.path(name)
  writeFileSync(f, readFileSync(raw))
  await assert.rejects(
    encryptInPlace(f, {
      ...ids,
      ...small,
      onProgress: (done) => {
        if (done >= 64 * KiB) throw new Error('simulated crash')
      },
    }),
    { code: 'ERR_DISK_IO' },
  )
  return { f, journal: readFileSync(journalPath(f)) }
}

test('a journal that is not our own 0600 file with one link is refused, and left as it is', async () => {
  // hard link: resuming would write journal records into the other name's file
  {
    const { f, journal } = await interrupted('j-hardlink')
    const other = t.path('j-hardlink.other')
    linkSync(journalPath(f), other)
    await assert.rejects(encryptInPlace(f, ids), { code: 'ERR_DISK_JOURNAL_UNSAFE' })
    assert.ok(readFileSync(other).equals(journal), 'the linked file is unchanged')
    unlinkSync(other)
    assert.equal((await encryptInPlace(f, ids)).resumed, true, 'resumes once the link is gone')
  }
  // readable by others (a planted or copied journal)
  {
    const { f, journal } = await interrupted('j-open')
    chmodSync(journalPath(f), 0o644)
    await assert.rejects(encryptInPlace(f, ids), { code: 'ERR_DISK_JOURNAL_UNSAFE' })
    await assert.rejects(rekeyDeep(f, ids), { code: 'ERR_DISK_JOURNAL_UNSAFE' })
    assert.ok(readFileSync(journalPath(f)).equals(journal))
    assert.equal(mode(journalPath(f)), 0o644)
    chmodSync(journalPath(f), 0o600)
    assert.equal((await encryptInPlace(f, ids)).resumed, true)
  }
  // a symlink to a journal elsewhere
  {
    const { f, journal } = await interrupted('j-symlink')
    const elsewhere = t.path('j-symlink.elsewhere')
    writeFileSync(elsewhere, journal, { mode: 0o600 })
    unlinkSync(journalPath(f))
    symlinkSync(elsewhere, journalPath(f))
    await assert.rejects(encryptInPlace(f, ids), { code: 'ERR_DISK_JOURNAL_UNSAFE' })
    // decrypt still sees the unfinished operation through the symlink's name
    await assert.rejects(decryptDisk(f, t.path('j-symlink.out'), { unlock: { kek } }), {
      code: 'ERR_DISK_REKEY_IN_PROGRESS',
    })
    assert.ok(readFileSync(elsewhere).equals(journal))
  }
  // owned by someone else (only root can hand a file to another user)
  if (process.getuid?.() === 0) {
    const { f } = await interrupted('j-foreign')
    chownSync(journalPath(f), ATTACKER, ATTACKER)
    await assert.rejects(encryptInPlace(f, ids), { code: 'ERR_DISK_JOURNAL_UNSAFE' })
    assert.equal(statSync(journalPath(f)).uid, ATTACKER)
  }
})

test('a dangling symlink as the journal still blocks decrypt (the operation is unfinished)', async () => {
  await ready
  const d = t.path('dangling-journal.luks')
  writeFileSync(d, readFileSync(disk))
  symlinkSync(t.path('gone'), journalPath(d))
  await assert.rejects(decryptDisk(d, t.path('dangling-journal.out'), { unlock: { kek } }), {
    code: 'ERR_DISK_REKEY_IN_PROGRESS',
  })
  assert.ok(!existsSync(t.path('dangling-journal.out')))
})
