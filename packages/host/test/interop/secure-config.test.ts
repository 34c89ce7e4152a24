import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { tempDir, ward, serve, secretFile } from '../helpers/harness.js'
import { startSwtpm } from '@ward/tpm2/testing'

const SECURITY_VIOLATION =
  'Unable to restore system configuration. A security violation was detected.'
const RECOVERY_FAILED = 'Unable to recover the system configuration.'
const POLICY_MSG =
  'Unable to change the encryption mode and policy. Verify that the current host configuration can satisfy the new requirement.'

async function json(args: string[]): Promise<unknown> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

test('mode TPM + secure boot required: a boot with it off is refused, the recovery key opens it, rotate retires the old key', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
  const off = ['--data-dir', D, '--simulate-firmware', '--secure-boot=off']

  let agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await json(['host', 'settings', 'encryption', 'get', '--data-dir', D]), {
    mode: 'NONE',
    requireSecureBoot: false,
    requireExecInstalledOnly: false,
  })
  const set = await json([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--mode=TPM',
    '--require-secure-boot=T',
  ])
  assert.deepEqual(set, { mode: 'TPM', requireSecureBoot: true, requireExecInstalledOnly: false })
  const text = await ward(['host', 'settings', 'encryption', 'get', '--data-dir', D])
  assert.match(text.stdout, /Mode: TPM/)
  assert.match(text.stdout, /Require Secure Boot: true/)
  const [rec1] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'list',
    '--data-dir',
    D,
  ])) as { recoveryId: string; key: string }[]
  assert.match(
    rec1!.recoveryId,
    /^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$/,
  )
  assert.match(rec1!.key, /^(\d{6}-){15}\d{6}$/)
  // NONE after TPM: refused, irreversible
  const none = await ward(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=NONE'])
  assert.notEqual(none.code, 0)
  assert.match(none.stderr, /irreversible/)
  assert.match(none.stderr, /ERR_HOST_MODE_IRREVERSIBLE/)
  assert.equal(await agent.stop(), 0)

  // Secure boot off: the TPM refuses, the boot stops with the seed's message.
  agent = await serve(off)
  assert.notEqual(agent.exitCode, undefined)
  assert.notEqual(agent.exitCode, 0)
  assert.ok(agent.output().includes(SECURITY_VIOLATION), agent.output())

  // Back on: unseals normally.
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(await agent.stop(), 0)

  // Off again with the recovery key: opens.
  const k1 = secretFile(join(dir, 'rk1'), `${rec1!.key}\n`)
  agent = await serve([...off, '--encryption-recovery-key-file', k1])
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"recovery-key"/)
  // Requiring secure boot while it is off: the seed's message.
  const req = await ward([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--require-secure-boot=true',
  ])
  assert.notEqual(req.code, 0)
  assert.ok(req.stderr.includes(POLICY_MSG), req.stderr)
  const [rec2] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'rotate',
    '--data-dir',
    D,
  ])) as { recoveryId: string; key: string }[]
  assert.notEqual(rec2!.key, rec1!.key)
  assert.notEqual(rec2!.recoveryId, rec1!.recoveryId)
  const [listed] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'list',
    '--data-dir',
    D,
  ])) as { recoveryId: string; key: string }[]
  assert.deepEqual(listed, rec2)
  assert.equal(await agent.stop(), 0)

  // The old key stopped working; the new one works.
  agent = await serve([...off, '--encryption-recovery-key-file', k1])
  assert.notEqual(agent.exitCode, undefined)
  assert.notEqual(agent.exitCode, 0)
  assert.ok(agent.output().includes(RECOVERY_FAILED), agent.output())
  const k2 = secretFile(join(dir, 'rk2'), rec2!.key)
  agent = await serve([...off, '--encryption-recovery-key-file', k2])
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.equal(await agent.stop(), 0)
  // Still sealed to secure boot on (recovery under a boot that breaks the policy does not reseal).
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(await agent.stop(), 0)
})

test('another TPM cannot unseal; the recovery key opens it and reseals to the new TPM', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
  let agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  await json([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--mode=TPM',
    '--require-exec-installed-only=T',
  ])
  const [rec] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'list',
    '--data-dir',
    D,
  ])) as { key: string }[]
  assert.equal(await agent.stop(), 0)
  // exec-installed-only off at boot: the policy covers PCR 13, so the TPM refuses.
  agent = await serve([...on, '--exec-installed-only=off'])
  assert.notEqual(agent.exitCode, 0)
  assert.ok(agent.output().includes(SECURITY_VIOLATION), agent.output())
  // Move the boot disk to a host with another TPM.
  const other = await startSwtpm({ dir: join(dir, 'tpm2'), allowUnmanufactured: true })
  t.after(() => other.stop())
  writeFileSync(join(D, 'host.json'), JSON.stringify({ version: 1, tpm: other.spec }), {
    mode: 0o600,
  })
  agent = await serve(on)
  assert.notEqual(agent.exitCode, 0)
  assert.ok(agent.output().includes(SECURITY_VIOLATION), agent.output())
  const k = secretFile(join(dir, 'rk'), rec!.key)
  agent = await serve([...on, '--encryption-recovery-key-file', k])
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /resealed to this boot/)
  assert.equal(await agent.stop(), 0)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(await agent.stop(), 0)
})

test('wrong recovery keys: clear error, counted and rate-limited even for the right key', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  let agent = await serve(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
  await json([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--mode=TPM',
    '--require-secure-boot=T',
  ])
  const [rec] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'list',
    '--data-dir',
    D,
  ])) as { key: string }[]
  assert.equal(await agent.stop(), 0)
  const off = ['--data-dir', D, '--simulate-firmware', '--secure-boot=off']
  const wrong = rec!.key.replace(/^\d/, (c) => String((Number(c) + 1) % 10))
  const wrongFile = secretFile(join(dir, 'wrong'), wrong)
  const badFormat = secretFile(join(dir, 'bad'), '123-456')
  for (const [i, f] of [wrongFile, badFormat, wrongFile].entries()) {
    agent = await serve([...off, '--encryption-recovery-key-file', f])
    assert.notEqual(agent.exitCode, 0)
    assert.ok(agent.output().includes(RECOVERY_FAILED), agent.output())
    if (i === 0) assert.match(agent.output(), /1 failed attempt/)
  }
  const right = secretFile(join(dir, 'right'), rec!.key)
  agent = await serve([...off, '--encryption-recovery-key-file', right])
  assert.notEqual(agent.exitCode, 0)
  assert.match(agent.output(), /Too many wrong recovery keys \(3\); wait \d+ s/)
})

test('ward host init --tpm none: mode NONE works; TPM mode, key persistence and recovery keys are refused', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', 'none'])).code, 0)
  const again = await ward(['host', 'init', '--data-dir', D, '--tpm', 'none'])
  assert.match(again.stderr, /ERR_HOST_ALREADY_INITIALIZED/)
  const notRunning = await ward(['host', 'settings', 'encryption', 'get', '--data-dir', D])
  assert.notEqual(notRunning.code, 0)
  assert.match(notRunning.stderr, /ward host serve --data-dir/)
  const agent = await serve(['--data-dir', D])
  t.after(() => agent.stop())
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await json(['host', 'settings', 'encryption', 'get', '--data-dir', D]), {
    mode: 'NONE',
    requireSecureBoot: false,
    requireExecInstalledOnly: false,
  })
  const set = await ward(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  assert.notEqual(set.code, 0)
  assert.match(set.stderr, /ERR_HOST_NO_TPM/)
  const kp = await ward(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.notEqual(kp.code, 0)
  assert.match(kp.stderr, /ERR_HOST_NO_TPM/)
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: false,
  })
  const rl = await ward(['host', 'settings', 'encryption', 'recovery', 'list', '--data-dir', D])
  assert.match(rl.stderr, /ERR_HOST_MODE_REQUIRED/)
  const badFlag = await ward([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--require-secure-boot=maybe',
  ])
  assert.match(badFlag.stderr, /T, true, F or false/)
  assert.equal(await agent.stop(), 0)
  // and it boots again from the KDF inputs in encryption.info
  const again2 = await serve(['--data-dir', D])
  assert.equal(again2.exitCode, undefined, again2.output())
  assert.match(again2.output(), /"unlockedWith":"kdf"/)
  assert.equal(await again2.stop(), 0)
})

test('an interrupted switch to mode TPM (committed, not renamed into place) boots consistently; on another TPM the new file is kept', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const noneInfo = readFileSync(join(D, 'encryption.info'))
  const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
  let agent = await serve(on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  assert.equal(await agent.stop(), 0)
  const tpmInfo = readFileSync(join(D, 'encryption.info'))

  // Crash after the counter moved, before the rename: the new info wins.
  writeFileSync(join(D, 'encryption.info.next'), tpmInfo, { mode: 0o600 })
  writeFileSync(join(D, 'encryption.info'), noneInfo)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(existsSync(join(D, 'encryption.info.next')), false)
  assert.deepEqual(readFileSync(join(D, 'encryption.info')), tpmInfo)
  assert.equal(await agent.stop(), 0)

  // The same files on another TPM: it cannot tell whether the change was committed there, so
  // the new file must not be discarded (that would lose the new key): refused, kept.
  writeFileSync(join(D, 'encryption.info.next'), tpmInfo, { mode: 0o600 })
  writeFileSync(join(D, 'encryption.info'), noneInfo)
  const other = await startSwtpm({ dir: join(dir, 'tpm-b'), allowUnmanufactured: true })
  t.after(() => other.stop())
  const hostJson = readFileSync(join(D, 'host.json'))
  writeFileSync(join(D, 'host.json'), JSON.stringify({ version: 1, tpm: other.spec }))
  agent = await serve(on)
  assert.notEqual(agent.exitCode, 0)
  assert.ok(agent.output().includes(SECURITY_VIOLATION), agent.output())
  assert.equal(existsSync(join(D, 'encryption.info.next')), true)
  writeFileSync(join(D, 'host.json'), hostJson)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(
    ((await json(['host', 'settings', 'encryption', 'get', '--data-dir', D])) as { mode: string })
      .mode,
    'TPM',
  )
  assert.equal(await agent.stop(), 0)
})
