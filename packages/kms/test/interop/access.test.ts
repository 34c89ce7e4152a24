/**
 * Authentication and authorization: no client certificate or one from another CA is refused at
 * the TLS layer; identities own their objects; another identity needs a grant to Get (and does
 * not see the object in Locate until granted).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { addClient, grantAccess, initKms, listGrants, revokeAccess } from '../../src/index.js'
import { KmipTestClient } from '../../src/testing.js'
import {
  Tag,
  Operation,
  ObjectType,
  CryptographicAlgorithm,
  ResultReason,
  structure,
  text,
  enumeration,
  int,
  requiredValue,
  findAll,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { startFixture, attr1 } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const p = (...c: TtlvItem[]) => structure(Tag.RequestPayload, c)

describe('authentication and grants', () => {
  let f: Fixture
  let other: string
  before(async () => {
    f = await startFixture()
    other = mkdtempSync(join(tmpdir(), 'ward-kms-otherca-'))
    await initKms(other)
  })
  after(async () => {
    await f.close()
    rmSync(other, { recursive: true, force: true })
  })

  const handshake = (opts: { cert?: Buffer; key?: Buffer }): Promise<'refused' | 'served'> =>
    new Promise((resolve) => {
      const s = connect({
        host: '127.0.0.1',
        port: f.server.port,
        ca: readFileSync(join(f.dir, 'ca.pem')),
        servername: 'localhost',
        ...opts,
      })
      s.on('secureConnect', () => {
        // TLS 1.3 reports the client-cert rejection after the handshake: try one request.
        s.write(Buffer.from('42007801000000004200770100000000', 'hex'))
      })
      s.on('data', () => {
        s.destroy()
        resolve('served')
      })
      s.on('error', () => resolve('refused'))
      s.on('close', () => resolve('refused'))
    })

  test('no client certificate is refused', async () => {
    assert.equal(await handshake({}), 'refused')
  })

  test('a certificate from another CA is refused', async () => {
    const out = await addClient(other, 'intruder', join(other, 'c'))
    assert.equal(
      await handshake({ cert: readFileSync(out.cert), key: readFileSync(out.key) }),
      'refused',
    )
    // while a client of the right CA is served
    const ok = await addClient(f.dir, 'friend', join(f.dir, 'friend'))
    assert.equal(
      await handshake({ cert: readFileSync(ok.cert), key: readFileSync(ok.key) }),
      'served',
    )
  })

  test('TLS 1.2 with the CBC-SHA256 suites PyKMIP offers is accepted', async () => {
    const ok = await addClient(f.dir, 'legacy', join(f.dir, 'legacy'))
    for (const ciphers of ['AES128-SHA256', 'AES256-SHA256', 'ECDHE-RSA-AES128-SHA256']) {
      const r = await new Promise<string>((resolve) => {
        const s = connect({
          host: '127.0.0.1',
          port: f.server.port,
          ca: readFileSync(join(f.dir, 'ca.pem')),
          servername: 'localhost',
          cert: readFileSync(ok.cert),
          key: readFileSync(ok.key),
          maxVersion: 'TLSv1.2',
          ciphers,
        })
        s.on('secureConnect', () => {
          resolve(`${s.getProtocol()} ${s.getCipher().name}`)
          s.destroy()
        })
        s.on('error', (e) => resolve(`error ${e.message}`))
      })
      assert.equal(r, `TLSv1.2 ${ciphers}`)
    }
  })

  test('ownership and grants', async () => {
    const alice = await f.client('alice')
    const bob = await f.client('bob')
    const r = await alice.call(
      Operation.Create,
      p(
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.TemplateAttribute, [
          attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
          attr1('Cryptographic Length', int(0, 256)),
        ]),
      ),
    )
    const id = requiredValue(r, Tag.UniqueIdentifier, 'TextString')
    const aliceKey = requiredValue(
      requiredValue(
        await alice.call(Operation.Get, p(text(Tag.UniqueIdentifier, id))),
        Tag.SymmetricKey,
        'Structure',
      )[0]!,
      Tag.KeyValue,
      'Structure',
    )
    // Without any grant, bob is told what he would be told for an id that does not exist.
    await assert.rejects(
      bob.call(Operation.Get, p(text(Tag.UniqueIdentifier, id))),
      (e: { reason?: number }) => e.reason === ResultReason.ItemNotFound,
    )
    const loc = await bob.call(Operation.Locate, p())
    assert.ok(
      !findAll(loc, Tag.UniqueIdentifier).some((x) => x.value === id),
      'Locate hides ungranted objects',
    )

    await grantAccess(f.dir, id, 'bob', ['get', 'locate'])
    assert.deepEqual(
      (await listGrants(f.dir, id)).map((g) => [g.identity, g.operations]),
      [['bob', ['get', 'locate']]],
    )
    const bobKey = requiredValue(
      requiredValue(
        await bob.call(Operation.Get, p(text(Tag.UniqueIdentifier, id))),
        Tag.SymmetricKey,
        'Structure',
      )[0]!,
      Tag.KeyValue,
      'Structure',
    )
    assert.deepEqual(bobKey, aliceKey, 'granted Get returns the same key')
    const loc2 = await bob.call(Operation.Locate, p())
    assert.ok(findAll(loc2, Tag.UniqueIdentifier).some((x) => x.value === id))
    await assert.rejects(
      bob.call(Operation.Destroy, p(text(Tag.UniqueIdentifier, id))),
      (e: { reason?: number }) => e.reason === ResultReason.PermissionDenied,
    )

    await revokeAccess(f.dir, id, 'bob')
    await assert.rejects(
      bob.call(Operation.Get, p(text(Tag.UniqueIdentifier, id))),
      (e: { reason?: number }) => e.reason === ResultReason.ItemNotFound,
    )
    await assert.rejects(grantAccess(f.dir, id, 'bob', ['frobnicate']), {
      code: 'ERR_KMS_BAD_GRANT',
    })
  })

  test('an object of another identity answers exactly like a missing id; audit.log tells them apart', async () => {
    const owner = await f.client('carol')
    const id = requiredValue(
      await owner.call(
        Operation.Create,
        p(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.TemplateAttribute, [
            attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
            attr1('Cryptographic Length', int(0, 128)),
          ]),
        ),
      ),
      Tag.UniqueIdentifier,
      'TextString',
    )
    // an id of the same form that no object has
    const missing = `${id.slice(0, -12)}${id.endsWith('000000000000') ? '111111111111' : '000000000000'}`
    const answer = async (c: KmipTestClient, op: number, target: string) => {
      const [r] = await c.batch([{ op, payload: p(text(Tag.UniqueIdentifier, target)) }])
      return {
        status: r?.status,
        reason: r?.reason,
        message: r?.message?.replaceAll(target, 'ID').replace(/request [0-9a-f-]+/, 'request R'),
      }
    }
    for (const [major, minor] of [
      [1, 4],
      [2, 1],
    ] as const) {
      const dave = await f.client('dave', major, minor)
      for (const op of [
        Operation.Get,
        Operation.GetAttributes,
        Operation.Activate,
        Operation.Destroy,
        Operation.Encrypt,
      ]) {
        const theirs = await answer(dave, op, id)
        assert.deepEqual(
          theirs,
          await answer(dave, op, missing),
          `operation ${op} in ${major}.${minor}`,
        )
        assert.equal(
          theirs.reason,
          major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound,
        )
      }
      // a wrapping key of someone else is just as unknown
      const mine = requiredValue(
        await dave.call(
          Operation.Create,
          p(
            enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
            major >= 2
              ? structure(Tag.Attributes, [
                  enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
                  int(Tag.CryptographicLength, 128),
                ])
              : structure(Tag.TemplateAttribute, [
                  attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
                  attr1('Cryptographic Length', int(0, 128)),
                ]),
          ),
        ),
        Tag.UniqueIdentifier,
        'TextString',
      )
      const wrapUnder = async (kek: string) => {
        const [r] = await dave.batch([
          {
            op: Operation.Get,
            payload: p(
              text(Tag.UniqueIdentifier, mine),
              structure(Tag.KeyWrappingSpecification, [
                enumeration(Tag.WrappingMethod, 1),
                structure(Tag.EncryptionKeyInformation, [text(Tag.UniqueIdentifier, kek)]),
              ]),
            ),
          },
        ])
        return [r?.reason, r?.message?.replaceAll(kek, 'ID').replace(/request [0-9a-f-]+/, 'R')]
      }
      assert.deepEqual(await wrapUnder(id), await wrapUnder(missing))
    }
    // audit lines are appended at the end of the turn that answered (server/audit.ts)
    await new Promise((r) => setImmediate(r))
    const lines = readFileSync(join(f.dir, 'audit.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { identity: string; objectId?: string; reason?: string })
      .filter((l) => l.identity === 'dave' && l.reason !== undefined)
    assert.ok(
      lines.some((l) => l.objectId === id && l.reason === 'PermissionDenied'),
      'the refusal is audited as Permission Denied, with the object id',
    )
    assert.ok(
      !lines.some((l) => l.objectId === id && l.reason !== 'PermissionDenied'),
      'never audited as not found',
    )
    assert.ok(lines.some((l) => l.reason === 'ItemNotFound' || l.reason === 'ObjectNotFound'))
  })
})
void KmipTestClient
