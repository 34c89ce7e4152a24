// Known-answer tests for RSA-OAEP (any hash / MGF1 hash / label), RSA PKCS#1 v1.5 (implicit rejection) and HMAC (src/crypto/{rsa,mac}.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  publicEncrypt,
} from 'node:crypto'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { rsaDecrypt, rsaEncrypt } from '../../src/crypto/rsa.js'
import { macCompute, macHash, macVerify } from '../../src/crypto/mac.js'

const require = createRequire(import.meta.url)
const h = (s: string): Buffer => Buffer.from(s, 'hex')
const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c)
  return true
}

// OASIS KMIP Profiles 2.1 CS-AC-M-OAEP-10: RSA-2048 PKCS#1 key, OAEP SHA-384, MGF1 SHA-256,
// P Source "Kilroy was here".
const OAEP10_KEY =
  '308204a4020100028201010096ed9882e639115e6502348aed486317b6d8cbed47d4250a7261a829b2b1ef9a0dabc35861b9d599d8d2761364128976425e166a8e7fcc99f4a225b171b6887ce29031d114cd6b3b9b87f0443f4c327905458f72e326874fd9af16986477b33c43a20f8c9653b2cce47492d9e63cf6713c3a9026d000ebd19310168d209ebfa7b58138c580e8c80954d0f5dd65fa24be9f5d0b5d79f8eb65eb84eb4a14ff97851f1c7630802bd106d8dcc2096989d02c7a67f05552e394827d19929a3ff9adb1d73f26dc3c98ce376f5bf888e82aa5868c2e0e7fe1cab6d691009da7ee0e483157158c280222acdbec0e1646750614d310929113e2560a108bf1299bdcd7747d020301000102820100117275e6ebe63cf3c48974b97aa49b8fea3b3597c06dedba3f6eba99d7666a644ca0467cb90f5a79e66eade79ff1e4a21f19f14d701ba5f3462c585f22de0ef920d7ba6a8915160855fa68f3fabd3c38713b91519ea09d93c57e50065dd6d88966e81d140b6cb186ae022bd7b49de77f3f8f258ad710c431fde626353a481faf7e01c10fedd103ea5e2a20c86067ef323fbc0353d41d63adc51355d8698f34c9d084f3d93ea5f9461ef66a6401abea4566f5bc11551d11152123917706d78ab95668b673b0c73f3fe480659a047a71ef63313bc8935ae0bc3959939a0193835024e39b1c816d63de8dbda1a0a728fc1cba8c66fc079c8b07f39559af6ca42f0102818100c499b8f60d5989746b60939ae5d6466962197aef212a0db5eb618f07fe0e35e21bf6d445bd5e571b71c83a3e4cb84f683918a0b87adcd6d7beeb3fca9b87d9437d78f694557bc3d47e96e8ff83c958018ec70bfec998804d41eb21db99f6bd07cf3621dd6e70f4907a259ea2199208613bc655a804ca9c6ec1c5ff8918d12b0902818100c4874b4f5aa8538d8af15d945e9be842e4a7c08dfe7a42aee4cc375df415640904451cfa15d1cdda5d31f34d45e928986ba52c3b373c539fdacfe428d70b52a4eb2419277d50f1466debeab0ca24886390fae9d7e611a2b2993a59e2dc6bb874225f8ce3b2fcf6563421cc4ffd0dc119bff1c17d36bbba40c9fd4d0df4d4f6d50281810081befd8d0cc4616d7e8bcefdf3ded4bb29adad2ef191225943cd2faad3a4a734e0c5a5d39ca50d11a4a6c2a168da5e356730f4a8ab14e188a28bf89e8ac43dc347a433ff32e72a172bb00676d28f675027dcfef29832d7c1a4d63b9304ea0c58820cb48ec11b349bc0b0e11f13870796bbef298a68171ae41167cd3bba30189902818100aafdc033aa003cba3142b2160e7efe057da6cb2d805565c17fc68301d705e984c2d7534ff03e1c2a3adde3ffbead0faa16369f166287b586a73e2c18b089e47d232dc4490c8aa9728adf31d261fe89407ffb200cbddb6840967b238bf4163165b2268a91eec093a00b39c0e773984d039772c3d3ab14890827f6a0dd5cc112850281805205e5b103124de9aa55980b26c6fbd93b7d3b9ec3ad5df3a7eff2d51f6a14902137ce532bb10a2d1b52ea72a51b3c516cec5d8000282b87552f9eab4f18dc6756c4d18caeda4edeb4cb9ce510a0e0d636ff43177d768281830c7cd826d242348bfdb982827365a3d8cdb8f58336377e9ff9ce9f7c4d1b8f2c6a8c93bcbaecd1'
const OAEP10_CT =
  '513154e0e97ee30cd8848ef9b7e077a49aba39da94425c64ef1badf197d7721024598082d7b925105510c98549d632d37ce73ee85d86d0a79b418903fa51cd65289d5fb19a5fc28b926f268e47328dfeb378ad021b01964094ed5898b95a284c43ec0dae6759c1da85b8ab5a73fd617aa2867619939dd4f707b934adf4671a387d7ba15c469fb89b0d99ed472b8eacdcd9cb71411c8d6c13b85101ab6949d464da020ac23c1cf1d76e037d1aecbed87718496a573d87720a7f4c5e4512769d3ddcd191194270499ea31f107202dc134cd08c41f09ad3cc83cf03b93bea7c06a0c2fd40afa16cf9b074bbb278de2a5aae374346d262eec88618f4c4b844c003b7'
const LABEL = Buffer.from('Kilroy was here')

const priv = createPrivateKey({ key: h(OAEP10_KEY), format: 'der', type: 'pkcs1' })
const pub = createPublicKey(priv)

test('OAEP with an MGF1 hash other than the OAEP hash is refused, not hand-encoded', () => {
  // OASIS CS-AC-M-OAEP-10 uses SHA-384 with MGF1 SHA-256: node:crypto cannot express it.
  const p = { padding: 'OAEP', hash: 'sha384', mgf1Hash: 'sha256', label: LABEL } as const
  assert.throws(() => rsaDecrypt(priv, p, h(OAEP10_CT)), code('ERR_KMS_NOT_SUPPORTED'))
  assert.throws(() => rsaEncrypt(pub, p, Buffer.from('x')), code('ERR_KMS_NOT_SUPPORTED'))
})

test('OAEP round trips with every hash and a label; wrong label or a flipped bit is one failure', () => {
  for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
    const m = Buffer.from(`message ${hash}`)
    const ct = rsaEncrypt(pub, { padding: 'OAEP', hash, label: LABEL }, m)
    assert.equal(ct.length, 256)
    assert.deepEqual(
      rsaDecrypt(priv, { padding: 'OAEP', hash, mgf1Hash: hash, label: LABEL }, ct),
      m,
    )
    assert.throws(
      () => rsaDecrypt(priv, { padding: 'OAEP', hash, label: Buffer.from('y') }, ct),
      code('ERR_KMS_CRYPTO'),
    )
    const bad = Buffer.from(ct)
    bad[10]! ^= 1
    assert.throws(
      () => rsaDecrypt(priv, { padding: 'OAEP', hash, label: LABEL }, bad),
      code('ERR_KMS_CRYPTO'),
    )
  }
  // Interoperates with OpenSSL's own encoder.
  const ct = publicEncrypt(
    { key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from('x'),
  )
  assert.equal(rsaDecrypt(priv, { padding: 'OAEP', hash: 'sha256' }, ct).toString(), 'x')
  assert.throws(
    () => rsaEncrypt(pub, { padding: 'OAEP', hash: 'sha512' }, Buffer.alloc(200)),
    code('ERR_KMS_CRYPTO'),
  )
})

test("PKCS#1 v1.5 round trips, and with OpenSSL's own encoder", () => {
  for (const m of [Buffer.alloc(0), Buffer.from('hi'), Buffer.alloc(256 - 11, 7)]) {
    const ct = rsaEncrypt(pub, { padding: 'PKCS1v15' }, m)
    assert.equal(ct.length, 256)
    assert.deepEqual(rsaDecrypt(priv, { padding: 'PKCS1v15' }, ct), m)
  }
  const ct = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('x'))
  assert.equal(rsaDecrypt(priv, { padding: 'PKCS1v15' }, ct).toString(), 'x')
  assert.throws(
    () => rsaEncrypt(pub, { padding: 'PKCS1v15' }, Buffer.alloc(256 - 10)),
    code('ERR_KMS_CRYPTO'),
  )
})

test('PKCS#1 v1.5 decryption of a bad ciphertext is implicit rejection, not an error', () => {
  // A flipped bit, all zeros, a valid RSA value with no 00 02 prefix: each decrypts to a synthetic
  // message fixed by key and ciphertext (no error that would tell padding failures apart).
  const good = rsaEncrypt(pub, { padding: 'PKCS1v15' }, Buffer.from('secret'))
  const flipped = Buffer.from(good)
  flipped[10]! ^= 1
  const zeros = Buffer.alloc(256)
  const raw = publicEncrypt({ key: pub, padding: constants.RSA_NO_PADDING }, Buffer.alloc(256, 1))
  const outs = [flipped, zeros, raw].map((c) => {
    const a = rsaDecrypt(priv, { padding: 'PKCS1v15' }, c)
    assert.deepEqual(rsaDecrypt(priv, { padding: 'PKCS1v15' }, c), a, 'deterministic')
    assert.ok(a.length <= 256 - 11)
    assert.notDeepEqual(a, Buffer.from('secret'))
    return a.toString('hex')
  })
  assert.equal(new Set(outs).size, 3)
  // Another key gives another synthetic message for the same ciphertext.
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  assert.notDeepEqual(rsaDecrypt(other, { padding: 'PKCS1v15' }, zeros).toString('hex'), outs[1])
  // Only what anyone can see without the key fails: the length, a value not below the modulus.
  for (const c of [Buffer.alloc(255, 1), Buffer.alloc(257, 1), Buffer.alloc(256, 0xff)])
    assert.throws(() => rsaDecrypt(priv, { padding: 'PKCS1v15' }, c), code('ERR_KMS_CRYPTO'))
})

test('PKCS#1 v1.5 decryption on a Node.js whose OpenSSL has no implicit rejection: Feature Not Supported', () => {
  // Node refuses RSA_PKCS1_PADDING decryption whatever the ciphertext there (CVE-2023-46809); an
  // OpenSSL 3.0 build of Node (Node 20, a distribution's shared-OpenSSL Node) behaves like this.
  const nodeCrypto = require('node:crypto') as typeof import('node:crypto')
  const real = nodeCrypto.privateDecrypt
  const refuse = (o: { padding?: number }, c: NodeJS.ArrayBufferView) => {
    if (o.padding === constants.RSA_PKCS1_PADDING)
      throw Object.assign(new TypeError('RSA_PKCS1_PADDING is no longer supported'), {
        code: 'ERR_INVALID_ARG_VALUE',
      })
    return real(o as never, c)
  }
  nodeCrypto.privateDecrypt = refuse as typeof real
  syncBuiltinESMExports()
  try {
    const ct = rsaEncrypt(pub, { padding: 'PKCS1v15' }, Buffer.from('x'))
    assert.throws(
      () => rsaDecrypt(priv, { padding: 'PKCS1v15' }, ct),
      (e: Error & { code?: string }) =>
        e.code === 'ERR_KMS_NOT_SUPPORTED' && /implicit rejection/.test(e.message),
    )
  } finally {
    nodeCrypto.privateDecrypt = real
    syncBuiltinESMExports()
  }
  assert.equal(
    rsaDecrypt(
      priv,
      { padding: 'PKCS1v15' },
      rsaEncrypt(pub, { padding: 'PKCS1v15' }, Buffer.from('x')),
    ).toString(),
    'x',
  )
})

test('HMAC: RFC 4231 / RFC 2202 test case 2, OASIS CS-AC-M-4 (AES key used with HMAC_SHA256)', () => {
  const key = Buffer.from('Jefe')
  const data = Buffer.from('what do ya want for nothing?')
  assert.equal(
    macCompute(macHash('HMAC_SHA256'), key, data).toString('hex'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  )
  assert.equal(
    macCompute(macHash('HMAC_SHA512'), key, data).toString('hex'),
    '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
  )
  assert.equal(
    macCompute(macHash('HMAC_SHA1'), key, data).toString('hex'),
    'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
  )
  const k = h('0123456789abcdef0123456789abcdef')
  const d = h('01020304050607080910111213141516')
  const mac = h('c911e78196d64c30f631bb079ea37b97a95936d4da764d6a171df030c895ecf9')
  assert.deepEqual(macCompute('sha256', k, d), mac)
  assert.equal(macVerify('sha256', k, d, mac), true)
  assert.equal(macVerify('sha256', k, d, mac.subarray(0, 31)), false)
  const bad = Buffer.from(mac)
  bad[31]! ^= 1
  assert.equal(macVerify('sha256', k, d, bad), false)
  assert.throws(() => macHash('CMAC'), code('ERR_KMS_NOT_SUPPORTED'))
  assert.throws(() => macHash(undefined), code('ERR_KMS_NOT_SUPPORTED'))
})
