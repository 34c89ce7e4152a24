import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  KmipClient,
  KmipConnection,
  KmipError,
  tlsConnectOptions,
  Tag,
  attr,
  nameAttribute,
  text,
  ObjectType,
  Operation,
  QueryFunction,
  BlockCipherMode,
  PaddingMethod,
  CryptographicAlgorithm,
  State,
  structure,
  type ProtocolVersion,
} from '../../src/index.js'
import { startPykmipServer, type PykmipServer } from '../../src/testing/index.js'

let peer: PykmipServer

before(async () => {
  peer = await startPykmipServer()
})
after(async () => {
  await peer?.stop()
})

function client(version: ProtocolVersion): KmipClient {
  return new KmipClient({
    servers: [{ host: peer.host, port: peer.port }],
    tls: {
      caPem: peer.caPem,
      certPem: peer.clientCertPem,
      keyPem: peer.clientKeyPem,
      servername: 'localhost',
    },
    version,
    timeoutMs: 15_000,
  })
}

for (const version of [
  { major: 1, minor: 2 },
  { major: 2, minor: 0 },
] as const) {
  test(`Ward client ↔ pykmip-server, KMIP ${version.major}.${version.minor}: key lifecycle, attributes, crypto`, async () => {
    const c = client(version)
    try {
      const versions = await c.discoverVersions()
      assert.ok(versions.some((v) => v.major === 1 && v.minor === 2))
      const q = await c.query([QueryFunction.QueryOperations, QueryFunction.QueryObjects])
      assert.ok(q.operations.includes(Operation.Create))

      const name = `ward-${version.major}${version.minor}-${randomBytes(4).toString('hex')}`
      const uid = await c.create({ name })
      const obj = await c.get(uid)
      assert.equal(obj.objectType, ObjectType.SymmetricKey)
      assert.equal(obj.cryptographicAlgorithm, CryptographicAlgorithm.AES)
      assert.equal(obj.keyMaterial?.length, 32)
      obj.keyMaterial?.fill(0)

      const attrs = await c.getAttributes(uid, ['State', 'Cryptographic Length'])
      const st = attrs.find((x) => x.name === 'State')
      assert.equal(st?.value.value, State.PreActive)
      assert.equal(attrs.find((x) => x.name === 'Cryptographic Length')?.value.value, 256)
      const list = await c.getAttributeList(uid)
      assert.ok(list.includes('Cryptographic Algorithm'), list.join(','))

      await c.activate(uid)
      const after = await c.getAttributes(uid, ['State'])
      assert.equal(after[0]?.value.value, State.Active)

      const found = await c.locate({ attributes: [nameAttribute(name)] })
      assert.deepEqual(found, [uid])

      // encrypt/decrypt AES-CBC with PKCS5 padding (PyKMIP generates the IV)
      const params = {
        blockCipherMode: BlockCipherMode.CBC,
        paddingMethod: PaddingMethod.PKCS5,
        cryptographicAlgorithm: CryptographicAlgorithm.AES,
        randomIV: true,
      }
      const plain = new TextEncoder().encode('ward interop plaintext')
      const enc = await c.encrypt(uid, plain, { params })
      assert.ok(enc.iv !== undefined && enc.iv.length === 16)
      assert.notDeepEqual(enc.data, plain)
      const dec = await c.decrypt(uid, enc.data, {
        params: {
          blockCipherMode: BlockCipherMode.CBC,
          paddingMethod: PaddingMethod.PKCS5,
          cryptographicAlgorithm: CryptographicAlgorithm.AES,
        },
        iv: enc.iv,
      })
      assert.deepEqual(Buffer.from(dec), Buffer.from(plain))

      // modify/delete a Name attribute
      await c.modifyAttribute(uid, nameAttribute(`${name}-renamed`), nameAttribute(name))
      assert.deepEqual(await c.locate({ attributes: [nameAttribute(`${name}-renamed`)] }), [uid])

      await c.revoke(uid)
      await c.destroy(uid)
      await assert.rejects(
        c.get(uid),
        (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_RESULT',
      )
    } finally {
      c.close()
    }
  })
}

for (const version of [
  { major: 1, minor: 0 },
  { major: 1, minor: 1 },
  { major: 1, minor: 4 },
] as const) {
  test(`Ward client ↔ pykmip-server, KMIP ${version.major}.${version.minor}: create, get, activate, locate, revoke, destroy`, async () => {
    const c = client(version)
    try {
      const name = `ward-${version.major}${version.minor}-${randomBytes(4).toString('hex')}`
      const uid = await c.create({ name, length: 128 })
      const obj = await c.get(uid)
      assert.equal(obj.keyMaterial?.length, 16)
      obj.keyMaterial?.fill(0)
      await c.activate(uid)
      assert.deepEqual(await c.locate({ attributes: [nameAttribute(name)] }), [uid])
      const st = await c.getAttributes(uid, ['State'])
      assert.equal(st[0]?.value.value, State.Active)
      await c.revoke(uid)
      await c.destroy(uid)
    } finally {
      c.close()
    }
  })
}

test('TLS with PyKMIP: TLS 1.2 with a CBC-SHA2 suite (PyKMIP pins them)', async () => {
  const conn = await KmipConnection.open(
    tlsConnectOptions(
      {
        caPem: peer.caPem,
        certPem: peer.clientCertPem,
        keyPem: peer.clientKeyPem,
        servername: 'localhost',
      },
      peer.host,
      peer.port,
    ),
    5000,
    1 << 20,
  )
  try {
    assert.equal(conn.protocol, 'TLSv1.2')
    assert.match(conn.cipher, /CBC|SHA256|SHA384/)
  } finally {
    conn.close()
  }
})

test('batch of two operations with Unique Batch Item IDs (KMIP 1.2)', async () => {
  const c = client({ major: 1, minor: 2 })
  try {
    const uid = await c.create()
    const [a1, a2] = await c.batch([
      {
        operation: Operation.GetAttributes,
        payload: structure(Tag.RequestPayload, [
          text(Tag.UniqueIdentifier, uid),
          text(Tag.AttributeName, 'State'),
        ]),
      },
      {
        operation: Operation.Get,
        payload: structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, uid)]),
      },
    ])
    assert.equal(a1?.tag, Tag.ResponsePayload)
    assert.equal(a2?.tag, Tag.ResponsePayload)
    await c.destroy(uid)
  } finally {
    c.close()
  }
})

test('failover: a dead first server is skipped, KMIP errors are not retried elsewhere', async () => {
  const c = new KmipClient({
    servers: [
      { host: '127.0.0.1', port: 1 },
      { host: peer.host, port: peer.port },
    ],
    tls: {
      caPem: peer.caPem,
      certPem: peer.clientCertPem,
      keyPem: peer.clientKeyPem,
      servername: 'localhost',
    },
    version: { major: 1, minor: 2 },
  })
  try {
    const uid = await c.create()
    assert.equal(c.transport.currentServer, 1)
    await assert.rejects(
      c.get('no-such-object'),
      (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_RESULT',
    )
    await c.destroy(uid)
  } finally {
    c.close()
  }
})

test('a client certificate from another CA is refused by pykmip-server', async () => {
  const other = await startPykmipServer()
  try {
    const c = new KmipClient({
      servers: [{ host: peer.host, port: peer.port }],
      tls: {
        caPem: peer.caPem,
        certPem: other.clientCertPem,
        keyPem: other.clientKeyPem,
        servername: 'localhost',
      },
      version: { major: 1, minor: 2 },
      timeoutMs: 5000,
    })
    await assert.rejects(
      c.create(),
      (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_ALL_SERVERS_FAILED',
    )
    c.close()
  } finally {
    await other.stop()
  }
})

test('custom attribute helpers encode for both versions', () => {
  const x = attr('x-Vendor', text(0, 'Ward'))
  assert.equal(x.value.tag, Tag.AttributeValue)
})
