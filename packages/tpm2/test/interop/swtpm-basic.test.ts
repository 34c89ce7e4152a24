// Ward's PCR, NV, persistent-handle, EK-certificate and event-log operations on a real swtpm,
// cross-checked with tpm2-tools and openssl.
import assert from 'node:assert/strict'
import { X509Certificate, createHash, randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  AK_RSA_TEMPLATE,
  EV,
  EventLogWriter,
  PERSISTENT,
  SRK_ECC_TEMPLATE,
  TPM_PT,
  createPrimary,
  evictPersistent,
  extendPcr,
  flush,
  getProperties,
  getRandom,
  listHandles,
  measure,
  nvDefine,
  nvRead,
  nvReadPublic,
  nvUndefine,
  nvWrite,
  parseEventLog,
  persistObject,
  readEkCertificate,
  readPublic,
  seal,
  unseal,
  withSrk,
  readPcrs,
  replayEventLog,
  toPublicKey,
  withEk,
} from '../../src/index.js'
import { openLab, run, type Lab } from './helpers.js'

let lab: Lab
before(async () => {
  lab = await openLab()
})
after(async () => {
  await lab?.close()
})

test('EK certificate read from NV chains to the swtpm-localca root (openssl verify) and matches the EK', async () => {
  const tpm = lab.sw.tpm
  const { index, der } = await readEkCertificate(tpm, 'rsa')
  assert.equal(index, 0x01c00002)
  const cert = new X509Certificate(der)
  const pem = await lab.file('ek.pem', cert.toString())
  const { stdout } = await run('openssl', [
    'verify',
    '-CAfile',
    lab.made.ca.rootCert,
    '-untrusted',
    lab.made.ca.issuerCert,
    pem,
  ])
  assert.match(stdout, /ek\.pem: OK/)
  const ekPem = await withEk(tpm, 'rsa', async (ek) =>
    toPublicKey(ek.public).export({ type: 'spki', format: 'pem' }),
  )
  assert.equal(cert.publicKey.export({ type: 'spki', format: 'pem' }), ekPem)
  const ecc = await readEkCertificate(tpm, 'ecc')
  const eccCert = new X509Certificate(ecc.der)
  assert.equal(eccCert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1')
  const eccEk = await readPublic(tpm, 0x81010016) // swtpm's persistent P-384 EK
  assert.equal(
    toPublicKey(eccEk.public).export({ type: 'spki', format: 'pem' }),
    eccCert.publicKey.export({ type: 'spki', format: 'pem' }),
  )
  // a root that did not issue it is refused by openssl
  const other = await lab.file('other.pem', new X509Certificate(der).toString())
  await assert.rejects(run('openssl', ['verify', '-CAfile', other, pem]))
})

test('NV define/write/read/undefine, visible with tpm2_nvreadpublic', async () => {
  const tpm = lab.sw.tpm
  const index = 0x01500123
  const data = randomBytes(1500) // more than one NV_Write/NV_Read chunk
  await nvDefine(tpm, index, data.length)
  await nvWrite(tpm, index, data)
  assert.deepEqual(Buffer.from(await nvRead(tpm, index)), data)
  assert.deepEqual(
    Buffer.from(await nvRead(tpm, index, { offset: 700, size: 10 })),
    data.subarray(700, 710),
  )
  const pub = await nvReadPublic(tpm, index)
  assert.equal(pub.public.dataSize, 1500)
  const listed = await lab.tool('tpm2_nvreadpublic', [])
  assert.match(listed, /0x1500123:/)
  assert.match(listed, /size: 1500/)
  await assert.rejects(nvDefine(tpm, index, 8), { code: 'ERR_TPM_RC', base: 0x14c })
  await nvUndefine(tpm, index)
  assert.doesNotMatch(await lab.tool('tpm2_nvreadpublic', []), /0x1500123:/)
  assert.ok(!(await listHandles(tpm, 'nv-index')).includes(index))
})

test('persistent handles: evictControl in and out, seen by tpm2_getcap handles-persistent', async () => {
  const tpm = lab.sw.tpm
  const srk = await createPrimary(tpm, SRK_ECC_TEMPLATE)
  try {
    await persistObject(tpm, srk.handle, PERSISTENT.SRK)
  } finally {
    await flush(tpm, srk.handle)
  }
  assert.ok((await listHandles(tpm, 'persistent')).includes(PERSISTENT.SRK))
  assert.match(await lab.tool('tpm2_getcap', ['handles-persistent']), /0x81000001/)
  await evictPersistent(tpm, PERSISTENT.SRK)
  assert.doesNotMatch(await lab.tool('tpm2_getcap', ['handles-persistent']), /0x81000001/)
  assert.deepEqual(await listHandles(tpm, 'transient'), [])
})

test('PCR extend is what tpm2_pcrread reads; measure() + event log replay equals the TPM; reboot resets', async () => {
  const tpm = lab.sw.tpm
  const w = new EventLogWriter(['sha1', 'sha256'])
  const records: Uint8Array[] = [w.header()]
  for (const [pcr, data] of [
    [7, 'SecureBoot=1'],
    [8, 'ward 0.1.0'],
    [8, 'exec-installed-only=1'],
  ] as const) {
    const r = await measure(tpm, w, {
      pcrIndex: pcr,
      eventType: EV.EFI_ACTION,
      event: Buffer.from(data),
    })
    records.push(r.record)
  }
  const log = parseEventLog(Buffer.concat(records))
  const expected = replayEventLog(log, 'sha256')
  const actual = await readPcrs(tpm, [7, 8])
  assert.deepEqual(actual, expected)
  assert.deepEqual(await readPcrs(tpm, [7, 8], 'sha1'), replayEventLog(log, 'sha1'))
  const tools = await lab.tool('tpm2_pcrread', ['sha256:7,8'])
  for (const [p, v] of actual)
    assert.match(tools, new RegExp(`${p} *: 0x${Buffer.from(v).toString('hex')}`, 'i'))
  const d = createHash('sha256').update('x').digest()
  await extendPcr(tpm, 16, { sha256: d })
  assert.deepEqual(
    Buffer.from((await readPcrs(tpm, [16])).get(16)!),
    createHash('sha256').update(Buffer.alloc(32)).update(d).digest(),
  )
  await lab.sw.reboot()
  const zero = await readPcrs(tpm, [7, 8, 16])
  for (const v of zero.values()) assert.deepEqual(Buffer.from(v), Buffer.alloc(32))
})

test('withSrk uses a persistent SRK only if it is the standard one; blobs move between the two', async () => {
  const tpm = lab.sw.tpm
  const secret = randomBytes(32)
  const blob = await seal(tpm, secret, { pcrs: [23] }) // sealed under a transient SRK
  const srk = await createPrimary(tpm, SRK_ECC_TEMPLATE)
  try {
    await persistObject(tpm, srk.handle, PERSISTENT.SRK)
  } finally {
    await flush(tpm, srk.handle)
  }
  assert.equal(await withSrk(tpm, async (k) => k.handle), PERSISTENT.SRK)
  assert.deepEqual(Buffer.from(await unseal(tpm, blob)), secret)
  await evictPersistent(tpm, PERSISTENT.SRK)
  // a foreign key at the SRK handle is ignored (a transient standard SRK is used instead)
  const ak = await createPrimary(tpm, AK_RSA_TEMPLATE)
  try {
    await persistObject(tpm, ak.handle, PERSISTENT.SRK)
  } finally {
    await flush(tpm, ak.handle)
  }
  assert.equal((await withSrk(tpm, async (k) => k.handle)) >>> 24, 0x80)
  assert.deepEqual(Buffer.from(await unseal(tpm, blob)), secret)
  await evictPersistent(tpm, PERSISTENT.SRK)
  assert.deepEqual(await listHandles(tpm, 'transient'), [])
})

test('GetRandom and fixed properties', async () => {
  const tpm = lab.sw.tpm
  const a = await getRandom(tpm, 100)
  const b = await getRandom(tpm, 100)
  assert.equal(a.length, 100)
  assert.notDeepEqual(a, b)
  const props = await getProperties(tpm)
  assert.equal(props.get(TPM_PT.PCR_COUNT), 24)
  assert.equal(props.get(TPM_PT.HR_TRANSIENT_MIN), 3)
})
