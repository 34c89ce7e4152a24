import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createLogger } from '@ward/core'
import { EventLogWriter } from '@ward/tpm2'
import { HostTpm, measureBoot, readMeasurements, FIRMWARE_LOG, WARD_LOG } from '../../src/index.js'
import { tempDir } from '../helpers/harness.js'
import { startSwtpm } from '@ward/tpm2/testing'

const log = createLogger('host', { level: 'silent' })

test('measurements: simulated firmware replays to the PCRs; a forged or malformed log proves nothing', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const sw = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => sw.stop())
  const D = join(dir, 'host')
  mkdirSync(D, { mode: 0o700 })
  const tpm = new HostTpm({ kind: 'swtpm', host: '127.0.0.1', port: sw.port })
  t.after(() => tpm.close())
  await tpm.reboot()
  const off = await measureBoot({
    dataDir: D,
    tpm,
    simulateFirmware: { secureBoot: false },
    execInstalledOnly: true,
    log,
  })
  assert.deepEqual(
    {
      secureBoot: off.secureBoot,
      exec: off.execInstalledOnly,
      verified: off.verified,
      version: off.wardVersion,
    },
    { secureBoot: false, exec: true, verified: true, version: 'ward 0.1.0' },
  )
  const paths = [join(D, FIRMWARE_LOG), join(D, WARD_LOG)]
  // Forge the firmware log: claim secure boot on. The PCRs (extended with "off") disagree.
  const good = readFileSync(paths[0]!)
  const forged = Buffer.from(good)
  const at = forged.indexOf(Buffer.from('SecureBoot', 'utf16le'))
  assert.ok(at > 0)
  forged[at + 20] = 1 // the variable's one data byte follows the 10-character name
  const w = new EventLogWriter(['sha256'])
  // recompute the event digest so the log is self-consistent: only the TPM can tell
  const evStart = forged.lastIndexOf(Buffer.from('61dfe48bca93d211aa0d00e098032b8c', 'hex'))
  const evData = forged.subarray(evStart, at + 21)
  forged.set(w.digestsOf(evData)[0]!.digest, evStart - 4 - 32)
  writeFileSync(paths[0]!, forged)
  const read = await readMeasurements({ logPaths: paths, tpm, allowEfiVariable: false, log })
  assert.equal(read.verified, false)
  assert.equal(read.secureBoot, false, 'a log the PCRs do not back does not turn secure boot on')
  assert.equal(read.execInstalledOnly, true, 'PCR 13 still replays')
  // Malformed logs are coded errors.
  writeFileSync(paths[0]!, good.subarray(0, good.length - 3))
  await assert.rejects(readMeasurements({ logPaths: paths, tpm, allowEfiVariable: false, log }), {
    code: 'ERR_HOST_EVENTLOG',
  })
  writeFileSync(paths[0]!, Buffer.from('garbage'))
  await assert.rejects(readMeasurements({ logPaths: paths, tpm, allowEfiVariable: false, log }), {
    code: 'ERR_HOST_EVENTLOG',
  })
  // A reboot with secure boot on: verified and on.
  await tpm.reboot()
  const on = await measureBoot({
    dataDir: D,
    tpm,
    simulateFirmware: { secureBoot: true },
    execInstalledOnly: false,
    log,
  })
  assert.deepEqual([on.secureBoot, on.execInstalledOnly, on.verified], [true, false, true])
})
