/**
 * The data dir is the owner's alone (issue 10, Low): a new one is 0700 with every file 0600
 * (kms.db and its -wal/-shm, server.json, audit.log, clients.json, the certificates, the keys);
 * an existing directory with group or other bits is refused by every command with the chmod to
 * run; files an older version left 0644 are set to 0600 when the server starts, and it says so.
 */
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { addClient, grantAccess, initKms, kmsStatus, startKmsServer } from '../../src/index.js'
import { KmipTestClient } from '../../src/testing.js'
import {
  CryptographicAlgorithm,
  ObjectType,
  Operation,
  Tag,
  enumeration,
  int,
  structure,
} from '@ward/kmip'
import { readFileSync } from 'node:fs'
import { P, captureLogger } from '../helpers.js'

const mode = (p: string): number => statSync(p).mode & 0o777

async function createKey(dir: string, port: number, out: string): Promise<void> {
  const f = await addClient(dir, 'modes', out)
  const c = await KmipTestClient.connect(port, {
    ca: readFileSync(f.ca),
    cert: readFileSync(f.cert),
    key: readFileSync(f.key),
  })
  try {
    c.major = 2
    c.minor = 1
    await c.call(
      Operation.Create,
      P(
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          int(Tag.CryptographicLength, 256),
        ]),
      ),
    )
  } finally {
    c.close()
  }
}

test('a new data dir is 0700 and every file in it is 0600, the database files included', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ward-kms-modes-'))
  try {
    const dir = join(root, 'kms')
    await initKms(dir)
    const server = await startKmsServer({
      dataDir: dir,
      listen: '127.0.0.1:0',
      logger: captureLogger([]),
    })
    try {
      await createKey(dir, server.port, join(root, 'client'))
      const files = readdirSync(dir).sort()
      for (const f of ['kms.db', 'kms.db-wal', 'kms.db-shm', 'server.json', 'audit.log'])
        assert.ok(files.includes(f), `${f} exists while the server runs`)
      assert.equal(mode(dir), 0o700, 'data dir')
      for (const f of files) assert.equal(mode(join(dir, f)), 0o600, f)
    } finally {
      await server.close()
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

test('a data dir others can reach is refused by init, serve, status, grant and client add', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ward-kms-widedir-'))
  try {
    const dir = join(root, 'kms')
    mkdirSync(dir, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const refused = (e: { code?: string; message?: string }): boolean =>
      e.code === 'ERR_KMS_DATA_DIR_MODE' &&
      e.message?.includes(`chmod 700 ${dir}`) === true &&
      e.message.includes('0755')
    await assert.rejects(initKms(dir), refused)
    assert.deepEqual(readdirSync(dir), [], 'init wrote nothing')
    chmodSync(dir, 0o700)
    await initKms(dir)
    for (const wide of [0o750, 0o705, 0o770]) {
      chmodSync(dir, wide)
      const r = (e: { code?: string }): boolean => e.code === 'ERR_KMS_DATA_DIR_MODE'
      await assert.rejects(
        startKmsServer({ dataDir: dir, listen: '127.0.0.1:0', logger: captureLogger([]) }),
        r,
      )
      await assert.rejects(kmsStatus(dir), r)
      await assert.rejects(grantAccess(dir, 'some-id', 'bob', ['get']), r)
      await assert.rejects(addClient(dir, 'bob', join(root, 'bob')), r)
    }
    chmodSync(dir, 0o700)
    assert.equal((await kmsStatus(dir)).backend, 'sqlite')
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})

test('files an older version left readable are set to 0600 when the server starts, and it logs which', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ward-kms-oldmodes-'))
  try {
    const dir = join(root, 'kms')
    await initKms(dir)
    let server = await startKmsServer({
      dataDir: dir,
      listen: '127.0.0.1:0',
      logger: captureLogger([]),
    })
    await createKey(dir, server.port, join(root, 'client'))
    await server.close()
    const old = ['kms.db', 'audit.log', 'ca.pem', 'server.crt', 'clients.json']
    for (const f of old) chmodSync(join(dir, f), 0o644)
    const lines: string[] = []
    server = await startKmsServer({
      dataDir: dir,
      listen: '127.0.0.1:0',
      logger: captureLogger(lines),
    })
    try {
      for (const f of readdirSync(dir)) assert.equal(mode(join(dir, f)), 0o600, f)
      const said = lines.map((l) => JSON.parse(l) as { msg: string; files?: string[] })
      const warn = said.find((l) => l.files !== undefined)
      assert.ok(warn, 'the server logged the change')
      assert.match(warn.msg, /0600/)
      assert.deepEqual(
        warn.files!.map((f) => f.split(' ')[0]).sort(),
        [...old].sort(),
        'each changed file is named',
      )
    } finally {
      await server.close()
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
})
