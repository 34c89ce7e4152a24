import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { EV, EventLogWriter, TPM_ALG, parseEventLog, replayEventLog } from '../../src/index.js'

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest()

function sampleLog(): { bytes: Buffer; w: EventLogWriter } {
  const w = new EventLogWriter(['sha1', 'sha256'])
  const ev = (pcr: number, type: number, data: string): Uint8Array => {
    const event = Buffer.from(data)
    return w.encode({ pcrIndex: pcr, eventType: type, digests: w.digestsOf(event), event })
  }
  const bytes = Buffer.concat([
    w.header(),
    w.startupLocality(3),
    ev(0, EV.S_CRTM_VERSION, 'ward-firmware 1.0'),
    ev(7, EV.EFI_VARIABLE_DRIVER_CONFIG, 'SecureBoot=1'),
    ev(7, EV.SEPARATOR, '\0\0\0\0'),
    ev(17, EV.EVENT_TAG, 'drtm'),
  ])
  return { bytes, w }
}

test('writer → parser round trip: Spec ID header and TCG_PCR_EVENT2 records', () => {
  const { bytes, w } = sampleLog()
  const log = parseEventLog(bytes)
  assert.equal(log.specId.specVersionMajor, 2)
  assert.deepEqual(log.specId.algorithms, [
    { algorithmId: TPM_ALG.SHA1, digestSize: 20 },
    { algorithmId: TPM_ALG.SHA256, digestSize: 32 },
  ])
  assert.equal(log.events.length, 5)
  assert.equal(log.events[1]!.eventType, EV.S_CRTM_VERSION)
  assert.equal(Buffer.from(log.events[2]!.event).toString(), 'SecureBoot=1')
  // re-encoding every parsed event reproduces the log byte for byte
  const again = Buffer.concat([w.header(), ...log.events.map((e) => w.encode(e))])
  assert.deepEqual(again, bytes)
})

test('replay follows extend semantics, StartupLocality and DRTM initial values', () => {
  const log = parseEventLog(sampleLog().bytes)
  const pcrs = replayEventLog(log, 'sha256')
  const loc = Buffer.alloc(32)
  loc[31] = 3
  assert.deepEqual(
    Buffer.from(pcrs.get(0)!),
    sha256(Buffer.concat([loc, sha256('ward-firmware 1.0')])),
  )
  const p7 = sha256(
    Buffer.concat([
      sha256(Buffer.concat([Buffer.alloc(32), sha256('SecureBoot=1')])),
      sha256('\0\0\0\0'),
    ]),
  )
  assert.deepEqual(Buffer.from(pcrs.get(7)!), p7)
  assert.deepEqual(
    Buffer.from(pcrs.get(17)!),
    sha256(Buffer.concat([Buffer.alloc(32, 0xff), sha256('drtm')])),
  )
  assert.deepEqual([...pcrs.keys()], [0, 7, 17])
  assert.equal(replayEventLog(log, 'sha1').get(7)!.length, 20)
  assert.throws(() => replayEventLog(log, 'sha384'), { code: 'ERR_TPM_EVENTLOG' })
})

test('malformed logs are refused with ERR_TPM_EVENTLOG, never a partial log', () => {
  const { bytes } = sampleLog()
  for (let cut = 1; cut < bytes.length; cut += 7) {
    const t = bytes.subarray(0, cut)
    try {
      parseEventLog(t)
    } catch (e) {
      assert.equal((e as { code: string }).code, 'ERR_TPM_EVENTLOG')
      continue
    }
    // a cut exactly at a record boundary is a valid, shorter log
  }
  const noSpec = Buffer.from(bytes)
  noSpec.write('Spec ID Event02', 32, 'latin1')
  assert.throws(() => parseEventLog(noSpec), { code: 'ERR_TPM_EVENTLOG' })
  const hugeEvent = Buffer.from(bytes)
  const first = 32 + hugeEvent.readUInt32LE(28) // start of the first TCG_PCR_EVENT2
  const sizeAt = first + 12 + 2 * 2 + 20 + 32 // pcr, type, count, 2 × alg, digests
  hugeEvent.writeUInt32LE(0x7fffffff, sizeAt)
  assert.throws(() => parseEventLog(hugeEvent), { code: 'ERR_TPM_EVENTLOG' })
  const badAlg = Buffer.from(bytes)
  badAlg.writeUInt16LE(0x0099, first + 12)
  assert.throws(() => parseEventLog(badAlg), { code: 'ERR_TPM_EVENTLOG' })
  const tooMany = Buffer.from(bytes)
  tooMany.writeUInt32LE(9, first + 8)
  assert.throws(() => parseEventLog(tooMany), { code: 'ERR_TPM_EVENTLOG' })
  assert.throws(() => parseEventLog(bytes, { maxEvents: 2 }), { code: 'ERR_TPM_EVENTLOG' })
})
