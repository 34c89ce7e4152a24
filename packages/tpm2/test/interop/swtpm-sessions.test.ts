// Salted sessions with RSA (OAEP) and ECC (ECDH) keys, parameter encryption both ways, response
// HMAC verification, and Ward's event log read by tpm2_eventlog.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  EV,
  EventLogWriter,
  PERSISTENT,
  PasswordSession,
  TPM_RH,
  Tpm,
  commands,
  measure,
  nvDefine,
  nvRead,
  nvUndefine,
  readPcrs,
  withSession,
  withSrk,
  type Transport,
} from '../../src/index.js'
import { openLab, type Lab } from './helpers.js'

let lab: Lab
before(async () => {
  lab = await openLab()
})
after(async () => {
  await lab?.close()
})

const INDEX = 0x01500200

test('NV write and read through salted sessions (RSA EK and ECC SRK), encrypted both ways', async () => {
  const tpm = lab.sw.tpm
  const data = randomBytes(64)
  await nvDefine(tpm, INDEX, data.length)
  try {
    for (const salt of ['rsa-ek', 'ecc-srk'] as const) {
      const run = async (saltKey: number): Promise<void> => {
        await withSession(tpm, { type: 'hmac', saltKey, encrypt: 'both' }, async (s) => {
          await tpm.run(
            commands.NV_Write,
            { authHandle: TPM_RH.OWNER, nvIndex: INDEX, data, offset: 0 },
            { sessions: [new PasswordSession(), s] },
          )
          const r = await tpm.run(
            commands.NV_Read,
            { authHandle: TPM_RH.OWNER, nvIndex: INDEX, size: data.length, offset: 0 },
            { sessions: [new PasswordSession(), s] },
          )
          assert.deepEqual(Buffer.from(r.data), data)
        })
      }
      if (salt === 'rsa-ek') await run(PERSISTENT.EK_RSA)
      else await withSrk(tpm, (srk) => run(srk.handle))
      // the plain read agrees: what the TPM stored is the clear data
      assert.deepEqual(Buffer.from(await nvRead(tpm, INDEX)), data)
      data.reverse()
    }
  } finally {
    await nvUndefine(tpm, INDEX)
  }
})

test('a response altered in transit fails the session HMAC check (ERR_TPM_RESPONSE_HMAC)', async () => {
  const inner = lab.sw.transport
  let tamper = false
  const mitm: Transport = {
    async send(c, s) {
      const r = Buffer.from(await inner.send(c, s))
      if (tamper && r.length > 20) r[20]! ^= 0x01 // inside the encrypted randomBytes parameter
      return r
    },
    close: () => inner.close(),
  }
  const tpm = new Tpm(mitm)
  await withSrk(tpm, (srk) =>
    withSession(tpm, { type: 'hmac', saltKey: srk.handle, encrypt: 'response' }, async (s) => {
      tamper = true
      try {
        await assert.rejects(
          tpm.run(commands.GetRandom, { bytesRequested: 32 }, { sessions: [s] }),
          { code: 'ERR_TPM_RESPONSE_HMAC' },
        )
      } finally {
        tamper = false
      }
    }),
  )
})

test("Ward's event log is read by tpm2_eventlog, whose replay equals the TPM's PCRs", async () => {
  const tpm = lab.sw.tpm
  await lab.sw.reboot()
  const w = new EventLogWriter(['sha1', 'sha256'])
  const parts: Uint8Array[] = [w.header()]
  for (const [pcr, type, data] of [
    [7, EV.EFI_ACTION, 'SecureBoot=1'],
    [7, EV.SEPARATOR, '\0\0\0\0'],
    [8, EV.IPL, 'ward-0.1.0'],
  ] as const)
    parts.push(
      (await measure(tpm, w, { pcrIndex: pcr, eventType: type, event: Buffer.from(data) })).record,
    )
  const file = await lab.file('binary_bios_measurements', Buffer.concat(parts))
  const out = await lab.tool('tpm2_eventlog', [file])
  const pcrs = await readPcrs(tpm, [7, 8])
  for (const [p, v] of pcrs)
    assert.match(out, new RegExp(`${p} *: 0x${Buffer.from(v).toString('hex')}`, 'i'))
  assert.match(out, /EV_EFI_ACTION/)
  assert.match(out, /EV_SEPARATOR/)
  assert.equal(createHash('sha256').update('x').digest().length, 32)
})
