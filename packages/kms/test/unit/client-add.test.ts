/**
 * `ward kms client add NAME --out DIR` (issue 10, Low): the set ca.pem, NAME.crt, NAME.key is
 * written to random temporary names in DIR with O_EXCL | O_NOFOLLOW and renamed into place;
 * nothing is ever written through a symlink; an existing set is replaced whole, and a failure
 * part-way leaves the old set whole.
 */
import assert from 'node:assert/strict'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { renameSync } from 'node:fs'
import { addClient, initKms } from '../../src/index.js'
import { replaceFileSet } from '../../src/admin/file-set.js'

const pairMatches = (cert: string, key: string): boolean =>
  new X509Certificate(readFileSync(cert)).checkPrivateKey(createPrivateKey(readFileSync(key)))

describe('client add --out', () => {
  let root: string
  let data: string
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'ward-kms-clientadd-'))
    data = join(root, 'kms')
    await initKms(data)
  })
  after(() => rmSync(root, { recursive: true, force: true }))

  test('issuing a name again replaces its whole set (a matching certificate and key)', async () => {
    const out = join(root, 'again')
    const first = await addClient(data, 'alice', out)
    const serial1 = new X509Certificate(readFileSync(first.cert)).serialNumber
    const key1 = readFileSync(first.key, 'utf8')
    const second = await addClient(data, 'alice', out)
    assert.deepEqual(second, first, 'same paths')
    assert.notEqual(new X509Certificate(readFileSync(second.cert)).serialNumber, serial1)
    assert.notEqual(readFileSync(second.key, 'utf8'), key1)
    assert.ok(pairMatches(second.cert, second.key), 'NAME.crt and NAME.key belong together')
    assert.equal(statSync(second.key).mode & 0o777, 0o600)
    assert.equal(statSync(second.cert).mode & 0o777, 0o644)
    assert.equal(statSync(second.ca).mode & 0o777, 0o644)
    assert.deepEqual(readdirSync(out).sort(), ['alice.crt', 'alice.key', 'ca.pem'], 'no leftovers')
  })

  for (const target of ['ca.pem', 'bob.crt', 'bob.key']) {
    test(`a symlink at ${target} is refused and nothing is written through it`, async () => {
      const out = join(root, `link-${target}`)
      mkdirSync(out)
      const victim = join(root, `victim-${target}`)
      writeFileSync(victim, 'precious\n')
      symlinkSync(victim, join(out, target))
      await assert.rejects(
        addClient(data, 'bob', out),
        (e: { code?: string; message?: string }) =>
          e.code === 'ERR_KMS_CLIENT_OUT' && /symbolic link/.test(e.message ?? ''),
      )
      assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched')
      assert.deepEqual(readdirSync(out), [target], 'nothing else was written, no temp files left')
    })
  }

  test('a dangling symlink (to a file that does not exist yet) is refused too', async () => {
    const out = join(root, 'dangling')
    mkdirSync(out)
    const planted = join(root, 'planted-key')
    symlinkSync(planted, join(out, 'carol.key'))
    await assert.rejects(addClient(data, 'carol', out), { code: 'ERR_KMS_CLIENT_OUT' })
    assert.equal(existsSync(planted), false, 'no key was created at the link target')
    assert.deepEqual(readdirSync(out), ['carol.key'])
  })

  test('when one file of the set cannot be replaced, none of the old set is changed', async () => {
    const out = join(root, 'half')
    const old = await addClient(data, 'dave', out)
    const before = [old.ca, old.cert].map((p) => readFileSync(p, 'utf8'))
    rmSync(old.key)
    mkdirSync(old.key) // NAME.key is now a directory: the set cannot be completed
    await assert.rejects(addClient(data, 'dave', out), { code: 'ERR_KMS_CLIENT_OUT' })
    assert.deepEqual(
      [old.ca, old.cert].map((p) => readFileSync(p, 'utf8')),
      before,
      'ca.pem and NAME.crt are the old ones',
    )
    assert.deepEqual(readdirSync(out).sort(), ['ca.pem', 'dave.crt', 'dave.key'])
  })

  test('a rename failing part-way puts the previous files back (replaceFileSet)', () => {
    const out = join(root, 'rollback')
    mkdirSync(out)
    const files = ['a', 'b', 'c'].map((n) => join(out, n))
    writeFileSync(files[0]!, 'old a')
    writeFileSync(files[1]!, 'old b') // c is new
    let calls = 0
    assert.throws(
      () =>
        replaceFileSet(
          files.map((path) => ({ path, data: `new ${path.slice(-1)}`, mode: 0o600 })),
          (from, to) => {
            if (++calls === 3) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' })
            renameSync(from, to)
          },
        ),
      { code: 'ERR_KMS_CLIENT_OUT' },
    )
    assert.equal(calls, 3)
    assert.equal(readFileSync(files[0]!, 'utf8'), 'old a')
    assert.equal(readFileSync(files[1]!, 'utf8'), 'old b')
    assert.deepEqual(readdirSync(out).sort(), ['a', 'b'], 'no temp or backup files left')
    // and without a failure the three are replaced
    replaceFileSet(files.map((path) => ({ path, data: `new ${path.slice(-1)}`, mode: 0o600 })))
    assert.deepEqual(
      files.map((p) => readFileSync(p, 'utf8')),
      ['new a', 'new b', 'new c'],
    )
    assert.deepEqual(readdirSync(out).sort(), ['a', 'b', 'c'])
  })
})
