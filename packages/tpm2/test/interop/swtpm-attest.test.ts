// Sealing, policies, quotes and credentials on a real swtpm, cross-checked with tpm2-tools.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  AK_ECC_TEMPLATE,
  AK_RSA_TEMPLATE,
  PERSISTENT,
  Tpm,
  createPrimary,
  decodeSealedBlob,
  encodeSealedBlob,
  extendDigest,
  extendPcr,
  flush,
  listHandles,
  makeCredential,
  activateCredential,
  policyGetDigest,
  policyPcr,
  policyPcrDigest,
  quote,
  readPcrs,
  seal,
  toPublicKey,
  unseal,
  verifyQuote,
  withEk,
  withSession,
  type Transport,
} from '../../src/index.js'
import { openLab, type Lab } from './helpers.js'

let lab: Lab
before(async () => {
  lab = await openLab()
  await extendPcr(lab.sw.tpm, 0, { sha256: createHash('sha256').update('crtm').digest() })
  await extendPcr(lab.sw.tpm, 7, { sha256: createHash('sha256').update('SecureBoot=1').digest() })
})
after(async () => {
  await lab?.close()
})

async function noLeftovers(tpm: Tpm): Promise<void> {
  assert.deepEqual(await listHandles(tpm, 'transient'), [], 'transient objects left loaded')
  assert.deepEqual(await listHandles(tpm, 'hmac-session'), [], 'HMAC sessions left')
  assert.deepEqual(await listHandles(tpm, 'policy-session'), [], 'policy sessions left')
}

test("Ward's offline PolicyPCR digest equals tpm2_createpolicy --policy-pcr and a TPM trial session", async () => {
  const tpm = lab.sw.tpm
  const values = await readPcrs(tpm, [0, 7])
  const ward = Buffer.from(policyPcrDigest([0, 7], values)).toString('hex')
  const pcrFile = await lab.file('pcrs.bin', Buffer.concat([...values.values()]))
  const out = await lab.tool('tpm2_createpolicy', [
    '--policy-pcr',
    '-l',
    'sha256:0,7',
    '-f',
    pcrFile,
    '-L',
    `${lab.dir}/p.policy`,
  ])
  assert.match(out, new RegExp(ward, 'i'))
  const trial = await withSession(tpm, { type: 'trial' }, async (s) => {
    await policyPcr(tpm, s, [0, 7])
    return policyGetDigest(tpm, s)
  })
  assert.equal(Buffer.from(trial).toString('hex'), ward)
})

test('seal/unseal round trip; unseal fails after a PCR extend; predicted values unseal once reached', async () => {
  const tpm = lab.sw.tpm
  const secret = randomBytes(32)
  const blob = decodeSealedBlob(encodeSealedBlob(await seal(tpm, secret, { pcrs: [0, 7] })))
  assert.deepEqual(Buffer.from(await unseal(tpm, blob)), secret)
  const evil = createHash('sha256').update('SecureBoot=0').digest()
  // seal for a future state: PCR 16 after one extend with `evil`
  const future = new Map([[16, extendDigest('sha256', Buffer.alloc(32), evil)]])
  const later = await seal(tpm, secret, { pcrs: [16], values: future })
  await assert.rejects(unseal(tpm, later), { code: 'ERR_TPM_RC', base: 0x9d })
  await extendPcr(tpm, 7, { sha256: evil })
  await assert.rejects(
    unseal(tpm, blob),
    (e: { code: string; base: number; subject?: { kind: string } }) => {
      assert.equal(e.code, 'ERR_TPM_RC')
      assert.equal(e.base, 0x9d) // TPM_RC_POLICY_FAIL
      assert.equal(e.subject?.kind, 'session')
      return true
    },
  )
  await extendPcr(tpm, 16, { sha256: evil })
  assert.deepEqual(Buffer.from(await unseal(tpm, later)), secret)
  await noLeftovers(tpm) // also after the failures
  // a tampered private blob is refused by the TPM, nothing leaks
  const bad = {
    ...later,
    privateBytes: Uint8Array.from(later.privateBytes, (b, i) => (i === 10 ? b ^ 1 : b)),
  }
  await assert.rejects(unseal(tpm, bad), { code: 'ERR_TPM_RC' })
  await noLeftovers(tpm)
})

test('SECURITY: the sealed secret never crosses the transport in clear (salted, encrypted sessions)', async () => {
  const recorded: Buffer[] = []
  const inner = lab.sw.transport
  const spy: Transport = {
    async send(c, s) {
      recorded.push(Buffer.from(c))
      const r = await inner.send(c, s)
      recorded.push(Buffer.from(r))
      return r
    },
    close: () => inner.close(),
  }
  const tpm = new Tpm(spy)
  const secret = randomBytes(48)
  const blob = await seal(tpm, secret, { pcrs: [0] })
  assert.deepEqual(Buffer.from(await unseal(tpm, blob)), secret)
  assert.ok(recorded.length > 8)
  for (const m of recorded)
    for (const probe of [secret.subarray(0, 16), secret.subarray(16, 32), secret.subarray(32)])
      assert.equal(m.indexOf(probe), -1)
})

test('a Ward quote verifies with tpm2_checkquote and fails with another nonce; Ward verifies it too', async () => {
  const tpm = lab.sw.tpm
  const ak = await createPrimary(tpm, AK_RSA_TEMPLATE)
  const nonce = randomBytes(20)
  let q
  try {
    q = await quote(tpm, ak.handle, nonce, [0, 7])
  } finally {
    await flush(tpm, ak.handle)
  }
  const values = await readPcrs(tpm, [0, 7])
  const akPem = await lab.file(
    'ak.pem',
    toPublicKey(ak.public).export({ type: 'spki', format: 'pem' }) as string,
  )
  const msg = await lab.file('quote.msg', q.quoted)
  const sig = await lab.file('quote.sig', q.signature)
  const pcrs = await lab.file('quote.pcrs', Buffer.concat([...values.values()]))
  const args = [
    '-u',
    akPem,
    '-m',
    msg,
    '-s',
    sig,
    '-f',
    pcrs,
    '-l',
    'sha256:0,7',
    '-g',
    'sha256',
    '-q',
  ]
  await lab.tool('tpm2_checkquote', [...args, nonce.toString('hex')])
  await assert.rejects(lab.tool('tpm2_checkquote', [...args, randomBytes(20).toString('hex')]))
  const attest = verifyQuote(ak.public, q.quoted, q.signature, { nonce, pcrValues: values })
  assert.equal(attest.magic, 0xff544347)
  assert.throws(() => verifyQuote(ak.public, q.quoted, q.signature, { nonce: randomBytes(20) }), {
    code: 'ERR_TPM_QUOTE',
  })
  const otherPcr = new Map(values)
  otherPcr.set(7, new Uint8Array(32))
  assert.throws(
    () => verifyQuote(ak.public, q.quoted, q.signature, { nonce, pcrValues: otherPcr }),
    { code: 'ERR_TPM_QUOTE' },
  )
  const flipped = Buffer.from(q.quoted)
  flipped[flipped.length - 1]! ^= 1
  assert.throws(() => verifyQuote(ak.public, flipped, q.signature, { nonce }), {
    code: 'ERR_TPM_QUOTE',
  })
})

test('an ECDSA (P-256) AK quote verifies with tpm2_checkquote and with Ward', async () => {
  const tpm = lab.sw.tpm
  const ak = await createPrimary(tpm, AK_ECC_TEMPLATE)
  const nonce = randomBytes(16)
  let q
  try {
    q = await quote(tpm, ak.handle, nonce, [7])
  } finally {
    await flush(tpm, ak.handle)
  }
  const values = await readPcrs(tpm, [7])
  verifyQuote(ak.public, q.quoted, q.signature, { nonce, pcrValues: values })
  const akPem = await lab.file(
    'ak-ecc.pem',
    toPublicKey(ak.public).export({ type: 'spki', format: 'pem' }) as string,
  )
  const msg = await lab.file('qe.msg', q.quoted)
  const sig = await lab.file('qe.sig', q.signature)
  const pcrs = await lab.file('qe.pcrs', Buffer.concat([...values.values()]))
  await lab.tool('tpm2_checkquote', [
    '-u',
    akPem,
    '-m',
    msg,
    '-s',
    sig,
    '-f',
    pcrs,
    '-l',
    'sha256:7',
    '-g',
    'sha256',
    '-q',
    nonce.toString('hex'),
  ])
  await assert.rejects(
    lab.tool('tpm2_checkquote', [
      '-u',
      akPem,
      '-m',
      msg,
      '-s',
      sig,
      '-f',
      pcrs,
      '-l',
      'sha256:7',
      '-g',
      'sha256',
      '-q',
      randomBytes(16).toString('hex'),
    ]),
  )
})

test('MakeCredential by Ward (offline) + ActivateCredential by the TPM, RSA and ECC EKs', async () => {
  const tpm = lab.sw.tpm
  for (const kind of ['rsa', 'ecc'] as const) {
    const ak = await createPrimary(tpm, AK_RSA_TEMPLATE)
    try {
      await withEk(tpm, kind, async (ek) => {
        if (kind === 'rsa') assert.equal(ek.handle, PERSISTENT.EK_RSA)
        const credential = randomBytes(32)
        const { credentialBlob, secret } = makeCredential(ek.public, ak.name, credential)
        assert.deepEqual(
          Buffer.from(await activateCredential(tpm, ak.handle, ek.handle, credentialBlob, secret)),
          credential,
        )
        // bound to the AK's name: another object name does not activate
        const wrong = makeCredential(
          ek.public,
          Buffer.concat([ak.name.subarray(0, 2), randomBytes(32)]),
          credential,
        )
        await assert.rejects(
          activateCredential(tpm, ak.handle, ek.handle, wrong.credentialBlob, wrong.secret),
          { code: 'ERR_TPM_RC' },
        )
      })
    } finally {
      await flush(tpm, ak.handle)
    }
  }
  // swtpm's P-384 EK (certificate in NV 0x01C00016) at its persistent handle 0x81010016
  const ak = await createPrimary(tpm, AK_RSA_TEMPLATE)
  try {
    await withEk(
      tpm,
      'ecc',
      async (ek) => {
        const credential = randomBytes(48)
        const { credentialBlob, secret } = makeCredential(ek.public, ak.name, credential)
        assert.deepEqual(
          Buffer.from(
            await activateCredential(tpm, ak.handle, ek.handle, credentialBlob, secret, {
              ekAuth: 'password',
            }),
          ),
          credential,
        )
      },
      { handle: 0x81010016 },
    )
  } finally {
    await flush(tpm, ak.handle)
  }
  await noLeftovers(tpm)
})

test('reboot resets PCRs: the sealed secret is refused until the same measurements are replayed', async () => {
  const tpm = lab.sw.tpm
  await lab.sw.reboot()
  const m = createHash('sha256').update('SecureBoot=1').digest()
  await extendPcr(tpm, 7, { sha256: m })
  const secret = randomBytes(16)
  const blob = await seal(tpm, secret, { pcrs: [7] })
  await lab.sw.reboot()
  await assert.rejects(unseal(tpm, blob), { code: 'ERR_TPM_RC', base: 0x9d })
  await extendPcr(tpm, 7, { sha256: m })
  assert.deepEqual(Buffer.from(await unseal(tpm, blob)), secret)
})
