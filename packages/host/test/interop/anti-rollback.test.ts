// Red-team findings 3, 4, 5, 6 and 10 (issue 10), reproduced through the real CLI and agent
// against swtpm: old copies of files from the data folder put back must never downgrade the host,
// revive a revoked recovery key or bring a removed key back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { createDecipheriv, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { Secret } from '@ward/core'
import { openTpm, unseal } from '@ward/tpm2'
import { unwrapKw } from '@ward/envelope'
import { tempDir, ward, serve as serveAgent, secretFile } from '../helpers/harness.js'
import { startSwtpm, type RunningSwtpm } from '@ward/tpm2/testing'
import { recoveryWrappingKey } from '../../src/config/recovery-key.js'

async function json(args: string[]): Promise<unknown> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

interface Host {
  dir: string
  D: string
  tpm: RunningSwtpm
  on: string[]
  off: string[]
  file: (name: string) => string
}

/** Every agent started by this file, killed when its test ends (also when an assertion failed). */
const running = new Set<Awaited<ReturnType<typeof serveAgent>>>()
async function serve(args: readonly string[]): ReturnType<typeof serveAgent> {
  const a = await serveAgent(args)
  running.add(a)
  return a
}

async function host(t: { after: (fn: () => unknown) => void }): Promise<Host> {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  t.after(async () => {
    for (const a of running) await a.kill9()
    running.clear()
  })
  const D = join(dir, 'host')
  const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
  assert.equal(init.code, 0, init.stderr)
  return {
    dir,
    D,
    tpm,
    on: ['--data-dir', D, '--simulate-firmware', '--secure-boot=on'],
    off: ['--data-dir', D, '--simulate-firmware', '--secure-boot=off'],
    file: (name) => join(D, name),
  }
}

async function addKey(D: string, dir: string, kekId: string): Promise<void> {
  const f = secretFile(join(dir, `kek-${kekId}`), randomBytes(32))
  const r = await ward([
    'crypto-util',
    'keys',
    'add',
    '--data-dir',
    D,
    '--provider-id',
    'p',
    '--kek-id',
    kekId,
    '--kek-file',
    f,
  ])
  assert.equal(r.code, 0, r.stderr)
}

async function kekIds(D: string): Promise<string[]> {
  return (
    (await json(['crypto-util', 'keys', 'list', '--data-dir', D])) as { kekId: string }[]
  ).map((k) => k.kekId)
}

/** A boot that must be refused with `code`: no agent comes up, no key is restored. */
async function refused(args: string[], code: string): Promise<string> {
  const agent = await serve(args)
  if (agent.exitCode === undefined) await agent.stop()
  const out = agent.output()
  assert.notEqual(agent.exitCode, undefined, `the host booted:\n${out}`)
  assert.notEqual(agent.exitCode, 0)
  assert.ok(out.includes(`"code":"${code}"`), out)
  assert.doesNotMatch(out, /key cache restored/)
  return out
}

/** AES-256-GCM open of config.archive as its documented format says (an attacker's script). */
function openArchiveRaw(key: Buffer, bytes: Buffer): Buffer {
  const magic = bytes.subarray(0, 8)
  const d = createDecipheriv('aes-256-gcm', key, bytes.subarray(8, 20))
  d.setAAD(Buffer.concat([magic, Buffer.from('ward-host-configuration')]))
  d.setAuthTag(bytes.subarray(bytes.length - 16))
  return Buffer.concat([d.update(bytes.subarray(20, bytes.length - 16)), d.final()])
}

/** The archive key from an encryption.info and a recovery key, offline. */
function unwrapWithRecoveryKey(info: Buffer, recoveryKey: string): Buffer {
  const body = JSON.parse(info.toString('utf8').split('\n')[0]!) as {
    recovery: { salt: string; wrappedKey: string }
  }
  const wk = recoveryWrappingKey(
    new Secret(new Uint8Array(Buffer.from(recoveryKey))),
    Buffer.from(body.recovery.salt, 'base64'),
  )
  return Buffer.from(wk.use((w) => unwrapKw(w, Buffer.from(body.recovery.wrappedKey, 'base64'))))
}

/** The secret named `name` in a decrypted archive (u32 JSON length | JSON | u8 n | entries). */
function archiveSecret(plain: Buffer, name: string): Buffer | undefined {
  let o = 4 + plain.readUInt32BE(0)
  const n = plain[o++]!
  for (let i = 0; i < n; i++) {
    const nl = plain[o++]!
    const nm = plain.subarray(o, o + nl).toString('latin1')
    o += nl
    const len = plain.readUInt16BE(o)
    o += 2
    if (nm === name) return plain.subarray(o, o + len)
    o += len
  }
  return undefined
}

async function recoveryKey(D: string): Promise<string> {
  const [r] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'list',
    '--data-dir',
    D,
  ])) as { key: string }[]
  return r!.key
}

test('finding 3: an old encryption.info put back (or planted as .next, or with its archive) after a policy change is refused, even with secure boot off', async (t) => {
  const h = await host(t)
  const { D } = h
  let agent = await serve(h.on)
  assert.equal(agent.exitCode, undefined, agent.output())
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  const oldInfo = readFileSync(h.file('encryption.info'))
  const oldArchive = readFileSync(h.file('config.archive'))
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--require-secure-boot=T'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['k1', 'k2']) await addKey(D, h.dir, k)
  assert.equal(await agent.stop(), 0)
  const curInfo = readFileSync(h.file('encryption.info'))
  const curArchive = readFileSync(h.file('config.archive'))

  // the old file back in place
  writeFileSync(h.file('encryption.info'), oldInfo)
  const out = await refused(h.off, 'ERR_HOST_CONFIG_ROLLBACK')
  assert.match(out, /older than/)
  assert.deepEqual(readFileSync(h.file('encryption.info')), oldInfo, 'left as found')
  // The TPM itself refuses the old sealed key, also to code other than Ward's: the PCRs of this
  // secure-boot-off boot satisfy its PolicyPCR (12 only), its PolicyNV (counter == its
  // generation) no longer holds.
  const old = JSON.parse(oldInfo.toString('utf8').split('\n')[0]!) as {
    generation: string
    tpm: { sealedPublic: string; sealedPrivate: string; pcrs: number[]; policyDigest: string }
  }
  assert.deepEqual(old.tpm.pcrs, [12])
  const operand = Buffer.alloc(8)
  operand.writeBigUInt64BE(BigInt(old.generation))
  const { tpm } = openTpm(h.tpm.spec)
  try {
    await assert.rejects(
      unseal(tpm, {
        publicBytes: Buffer.from(old.tpm.sealedPublic, 'base64'),
        privateBytes: Buffer.from(old.tpm.sealedPrivate, 'base64'),
        pcrs: old.tpm.pcrs,
        bank: 'sha256',
        policyDigest: Buffer.from(old.tpm.policyDigest, 'hex'),
        nv: { index: 0x01805741, name: new Uint8Array(0), operandB: operand },
      }),
      { code: 'ERR_TPM_RC', base: 0x126 }, // TPM_RC_POLICY from PolicyNV
    )
  } finally {
    await tpm.transport.close()
  }
  // planted as encryption.info.next next to the current one
  writeFileSync(h.file('encryption.info'), curInfo)
  writeFileSync(h.file('encryption.info.next'), oldInfo)
  await refused(h.off, 'ERR_HOST_CONFIG_ROLLBACK')
  assert.deepEqual(readFileSync(h.file('encryption.info.next')), oldInfo, 'left as found')
  unlinkSync(h.file('encryption.info.next'))
  // the whole old pair (encryption.info and config.archive)
  writeFileSync(h.file('encryption.info'), oldInfo)
  writeFileSync(h.file('config.archive'), oldArchive)
  await refused(h.off, 'ERR_HOST_CONFIG_ROLLBACK')
  await refused(h.on, 'ERR_HOST_CONFIG_ROLLBACK')
  // an old archive alone does not open under the current encryption.info
  writeFileSync(h.file('encryption.info'), curInfo)
  await refused(h.on, 'ERR_HOST_CONFIG_DECRYPT')

  // the current files still boot (nothing was bricked), and secure boot is still required
  writeFileSync(h.file('config.archive'), curArchive)
  await refused(h.off, 'ERR_HOST_SECURITY_VIOLATION')
  agent = await serve(h.on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await kekIds(D), ['k1', 'k2'])
  assert.deepEqual(await json(['host', 'settings', 'encryption', 'get', '--data-dir', D]), {
    mode: 'TPM',
    requireSecureBoot: true,
    requireExecInstalledOnly: false,
  })
  assert.equal(await agent.stop(), 0)
})

test('finding 4: after recovery rotate the old recovery key and an old encryption.info open nothing current, offline or at boot', async (t) => {
  const h = await host(t)
  const { D } = h
  let agent = await serve(h.on)
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
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  await addKey(D, h.dir, 'before-rotation')
  const rk1 = await recoveryKey(D)
  const oldInfo = readFileSync(h.file('encryption.info'))
  const oldArchive = readFileSync(h.file('config.archive'))
  const [rotated] = (await json([
    'host',
    'settings',
    'encryption',
    'recovery',
    'rotate',
    '--data-dir',
    D,
  ])) as { key: string }[]
  const rk2 = rotated!.key
  await addKey(D, h.dir, 'after-rotation')
  assert.equal(await agent.stop(), 0)
  const curInfo = readFileSync(h.file('encryption.info'))
  const curArchive = readFileSync(h.file('config.archive'))

  // Offline, as in the issue: the old key unwraps the old archive key ...
  const oldKey = unwrapWithRecoveryKey(oldInfo, rk1)
  const oldPlain = openArchiveRaw(oldKey, oldArchive) // the snapshot it was made for
  // ... which does not open the current archive ...
  assert.throws(() => openArchiveRaw(oldKey, curArchive), /authenticate/)
  // ... and the key-store key it held is not the one of the current journal
  const curKey = unwrapWithRecoveryKey(curInfo, rk2)
  assert.notDeepEqual(curKey, oldKey, 'the archive was re-keyed')
  const curPlain = openArchiveRaw(curKey, curArchive)
  const oldStoreKey = archiveSecret(oldPlain, 'keystore.key')
  const curStoreKey = archiveSecret(curPlain, 'keystore.key')
  assert.ok(oldStoreKey && curStoreKey)
  assert.notDeepEqual(curStoreKey, oldStoreKey, 'the key store was re-keyed')
  assert.notDeepEqual(archiveSecret(curPlain, 'recovery.key'), Buffer.from(rk1))
  // the old recovery key does not open the current encryption.info either
  assert.throws(() => unwrapWithRecoveryKey(curInfo, rk1))

  // At boot, secure boot off: old encryption.info + old key, alone or with its archive: refused.
  const k1 = secretFile(join(h.dir, 'rk1'), rk1)
  writeFileSync(h.file('encryption.info'), oldInfo)
  await refused([...h.off, '--encryption-recovery-key-file', k1], 'ERR_HOST_CONFIG_ROLLBACK')
  writeFileSync(h.file('config.archive'), oldArchive)
  await refused([...h.off, '--encryption-recovery-key-file', k1], 'ERR_HOST_CONFIG_ROLLBACK')
  // current files + old key: the wrong key
  writeFileSync(h.file('encryption.info'), curInfo)
  writeFileSync(h.file('config.archive'), curArchive)
  await refused([...h.off, '--encryption-recovery-key-file', k1], 'ERR_HOST_RECOVERY_FAILED')
  // the new key opens the current configuration with every key
  const k2 = secretFile(join(h.dir, 'rk2'), rk2)
  agent = await serve([...h.off, '--encryption-recovery-key-file', k2])
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await kekIds(D), ['after-rotation', 'before-rotation'])
  assert.equal(await agent.stop(), 0)
})

/** Offset of the first journal record (after the header). */
function firstRecord(journal: Buffer): number {
  const magic = journal.subarray(0, 8).toString('latin1')
  return magic === 'WARDKST1' ? 24 : 40
}

test('finding 5: an older keystore.journal, one cut at an old size or with its last record damaged never brings a removed key back', async (t) => {
  const h = await host(t)
  const { D } = h
  let agent = await serve(h.on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['a', 'b', 'c']) await addKey(D, h.dir, k)
  assert.equal(await agent.stop(), 0)
  const path = h.file('keystore.journal')
  const before = readFileSync(path)
  agent = await serve(h.on)
  assert.equal((await ward(['crypto-util', 'keys', 'remove', 'p', 'b', '--data-dir', D])).code, 0)
  assert.equal(await agent.stop(), 0)
  const current = readFileSync(path)
  const damaged = Buffer.from(current)
  damaged[damaged.length - 3]! ^= 0x40

  for (const [what, bytes] of [
    ['the older journal', before],
    ['the journal cut at its old size', current.subarray(0, before.length)],
    ['the journal with its last record damaged', damaged],
  ] as const) {
    writeFileSync(path, bytes)
    agent = await serve(h.on)
    assert.equal(agent.exitCode, undefined, agent.output())
    const ids = await kekIds(D)
    assert.ok(!ids.includes('b'), `${what}: the removed key came back`)
    const kp = (await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D])) as {
      storeError?: string
    }
    assert.match(kp.storeError ?? '', /^ERR_HOST_KEYSTORE_(ROLLBACK|CORRUPT)$/, what)
    assert.equal(await agent.stop(), 0)
    assert.deepEqual(readFileSync(path), Buffer.from(bytes), `${what}: left as found`)
  }
  // the genuine journal is still accepted
  writeFileSync(path, current)
  agent = await serve(h.on)
  assert.deepEqual(await kekIds(D), ['a', 'c'])
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
  })

  // after --remove-all-stored-keys, the old archive, encryption.info and journal put back
  const snapshot = ['config.archive', 'encryption.info', 'keystore.journal'].map(
    (f) => [f, readFileSync(h.file(f))] as const,
  )
  await json([
    'host',
    'security',
    'keypersistence',
    'disable',
    '--remove-all-stored-keys',
    '--data-dir',
    D,
  ])
  assert.equal(await agent.stop(), 0)
  for (const [f, b] of snapshot) writeFileSync(h.file(f), b)
  await refused(h.on, 'ERR_HOST_CONFIG_ROLLBACK')
})

test('finding 6: one corrupted length field in the journal is refused with a coded error and the file is left as it is', async (t) => {
  const h = await host(t)
  const { D } = h
  let agent = await serve(h.on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['a', 'b', 'c']) await addKey(D, h.dir, k)
  assert.equal(await agent.stop(), 0)
  const path = h.file('keystore.journal')
  const good = readFileSync(path)
  for (const len of [0xffffff00, 0x7fff, 1]) {
    const bad = Buffer.from(good)
    bad.writeUInt32BE(len, firstRecord(bad))
    writeFileSync(path, bad)
    agent = await serve(h.on)
    assert.equal(agent.exitCode, undefined, agent.output())
    assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
      enabled: true,
      storeError: 'ERR_HOST_KEYSTORE_CORRUPT',
    })
    assert.equal(await agent.stop(), 0)
    assert.deepEqual(readFileSync(path), bad, `length ${len}: the journal was modified`)
  }
  writeFileSync(path, good)
  agent = await serve(h.on)
  assert.deepEqual(await kekIds(D), ['a', 'b', 'c'])
  assert.equal(await agent.stop(), 0)
})

test("finding 10: host init's files put back after the switch to mode TPM are refused", async (t) => {
  const h = await host(t)
  const { D } = h
  const initFiles = ['config.archive', 'encryption.info'].map(
    (f) => [f, readFileSync(h.file(f))] as const,
  )
  let agent = await serve(h.on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  assert.equal(await agent.stop(), 0)
  const current = ['config.archive', 'encryption.info'].map(
    (f) => [f, readFileSync(h.file(f))] as const,
  )
  for (const [f, b] of initFiles) writeFileSync(h.file(f), b)
  const out = await refused(h.off, 'ERR_HOST_CONFIG_ROLLBACK')
  assert.match(out, /mode NONE/)
  assert.equal(existsSync(h.file('encryption.info.next')), false)
  for (const [f, b] of current) writeFileSync(h.file(f), b)
  agent = await serve(h.on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /"unlockedWith":"tpm"/)
  assert.equal(await agent.stop(), 0)
})
