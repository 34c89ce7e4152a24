// DeviceTransport framing (one write of the whole command, one read of the whole response) over a
// FIFO standing in for /dev/tpmrm0: the FIFO echoes the command back. No TPM device exists on
// test hosts, so this checks the framing only.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { DeviceTransport, Tpm, TpmResponseError, command, commands } from '../../src/index.js'

/** TPM2_GetTestResult (Part 3 §10.4): no handles, no parameters: a 10-byte command. */
const GetTestResult = command('TPM2_GetTestResult', 0x0000017c, {})

test('device transport writes one command and reads one response', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-tpm2-dev-'))
  const fifo = join(dir, 'tpmrm0')
  execFileSync('mkfifo', [fifo])
  const t = new DeviceTransport(fifo, { timeoutMs: 5000 })
  try {
    const raw = await t.send(Buffer.from('80010000000c0000017b0008', 'hex'))
    assert.equal(Buffer.from(raw).toString('hex'), '80010000000c0000017b0008')
    const tpm = new Tpm(t)
    // the 10-byte command comes back as a 10-byte response whose code is the command code
    await assert.rejects(tpm.run(GetTestResult, {}), (e: unknown) => {
      assert.ok(e instanceof TpmResponseError)
      assert.equal(e.rc, 0x17c)
      return true
    })
    // a longer echo reads as an error code with a body: refused as malformed
    await assert.rejects(tpm.run(commands.GetRandom, { bytesRequested: 16 }), {
      code: 'ERR_TPM_DECODE',
    })
  } finally {
    await t.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('device transport: a missing device is a coded error that says what to check', async () => {
  await assert.rejects(
    new DeviceTransport('/dev/ward-missing-tpm').send(new Uint8Array(10)),
    (e: { code: string; message: string }) => {
      assert.equal(e.code, 'ERR_TPM_TRANSPORT')
      assert.match(e.message, /cannot open/)
      return true
    },
  )
})
