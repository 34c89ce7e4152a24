import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tempDir, ward, serve, secretFile, run } from '../helpers/harness.js'
import { startSwtpm, type RunningSwtpm } from '@ward/tpm2/testing'
import { callAgent } from '../../src/index.js'

async function json(args: string[]): Promise<unknown> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

/** What the TPM holds that Ward could have created: persistent handles and NV indices (agent stopped). */
async function tpmObjects(tpm: RunningSwtpm): Promise<{ persistent: string; nv: string }> {
  const env = { TPM2TOOLS_TCTI: tpm.tcti }
  const p = await run('tpm2_getcap', ['handles-persistent'], env)
  assert.equal(p.code, 0, p.stderr)
  const nv = await run('tpm2_nvreadpublic', [], env)
  assert.equal(nv.code, 0, nv.stderr)
  return { persistent: p.stdout, nv: nv.stdout }
}

async function hostInTpmMode(t: {
  after: (fn: () => unknown) => void
}): Promise<{ dir: string; D: string; tpm: RunningSwtpm; on: string[] }> {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  return { dir, D, tpm, on: ['--data-dir', D, '--simulate-firmware', '--secure-boot=on'] }
}

test('keys survive a reboot with key persistence on, are gone with it off, and --remove-all-stored-keys leaves nothing', async (t) => {
  const { dir, D, tpm, on } = await hostInTpmMode(t)
  const before = await tpmObjects(tpm)
  let agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  // Needs mode TPM first.
  const early = await ward(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.match(early.stderr, /ERR_HOST_MODE_REQUIRED/)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
  })
  for (const k of ['kek-1', 'kek-2', 'kek-3']) {
    const f = secretFile(join(dir, k), randomBytes(32))
    const r = await ward([
      'crypto-util',
      'keys',
      'add',
      '--data-dir',
      D,
      '--provider-id',
      'kmip-a',
      '--kek-id',
      k,
      '--kek-file',
      f,
    ])
    assert.equal(r.code, 0, r.stderr)
  }
  assert.equal(
    (await ward(['crypto-util', 'keys', 'remove', 'kmip-a', 'kek-2', '--data-dir', D])).code,
    0,
  )
  assert.equal(await agent.stop(), 0)

  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [
    { providerId: 'kmip-a', kekId: 'kek-1' },
    { providerId: 'kmip-a', kekId: 'kek-3' },
  ])
  assert.equal(
    (await ward(['crypto-util', 'keys', 'iskeyincache', 'kmip-a', 'kek-1', '--data-dir', D])).code,
    0,
  )
  const absent = await ward([
    'crypto-util',
    'keys',
    'iskeyincache',
    'kmip-a',
    'kek-2',
    '--data-dir',
    D,
  ])
  assert.equal(absent.code, 1)
  assert.equal(absent.stdout.trim(), 'NO')
  await json(['host', 'security', 'keypersistence', 'disable', '--data-dir', D])
  assert.equal(await agent.stop(), 0)

  // Off: a reboot restores nothing.
  agent = await serve(on)
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [])
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: false,
  })
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.equal(
    ((await json(['crypto-util', 'keys', 'list', '--data-dir', D])) as unknown[]).length,
    2,
  )
  const r = await json([
    'host',
    'security',
    'keypersistence',
    'disable',
    '--remove-all-stored-keys',
    '--data-dir',
    D,
  ])
  assert.deepEqual(r, { enabled: false, removedStoredKeys: true })
  assert.equal(await agent.stop(), 0)

  assert.equal(existsSync(join(D, 'keystore.journal')), false)
  assert.deepEqual(readdirSync(D).sort(), [
    'config.archive',
    'encryption.info',
    'firmware-eventlog.bin',
    'host.json',
    'ward-eventlog.bin',
  ])
  // In the TPM: Ward's two counters (configuration and journal anchors), nothing else
  const after = await tpmObjects(tpm)
  assert.equal(after.persistent, before.persistent)
  assert.equal(before.nv, '')
  assert.deepEqual(
    [...after.nv.matchAll(/^(0x[0-9a-f]+):/gm)].map((m) => m[1]),
    ['0x1805741', '0x1805742'],
  )
  assert.equal((after.nv.match(/ownerwrite\|nt=0x1\|ownerread\|no_da\|written/g) ?? []).length, 2)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [])
  // Enabling again starts from an empty store: the removed keys are gone for good.
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [])
  assert.equal(await agent.stop(), 0)
})

test('kill -9 of the agent during a burst of keys add: the next boot has every acknowledged key', async (t) => {
  const { D, on } = await hostInTpmMode(t)
  let agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  const acked: string[] = []
  let failed = 0
  let next = 0
  // 8 requests in flight at all times; power is cut once 60 keys are acknowledged.
  const worker = async (): Promise<void> => {
    while (failed === 0 && next < 5000) {
      const kekId = `kek-${next++}`
      try {
        await callAgent(D, 'keys.add', {
          providerId: 'p',
          kekId,
          key: randomBytes(32).toString('base64'),
        })
        acked.push(kekId)
        if (acked.length === 60) void agent.kill9()
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  await agent.kill9()
  assert.ok(acked.length >= 60)
  assert.ok(failed > 0, 'the kill interrupted requests in flight')
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  const listed = new Set(
    ((await json(['crypto-util', 'keys', 'list', '--data-dir', D])) as { kekId: string }[]).map(
      (k) => k.kekId,
    ),
  )
  for (const k of acked) assert.ok(listed.has(k), `acknowledged ${k} lost`)
  // the store stays appendable after the crash
  assert.equal(
    (
      (await callAgent(D, 'keys.add', {
        providerId: 'p',
        kekId: 'after',
        key: randomBytes(32).toString('base64'),
      })) as { persisted: boolean }
    ).persisted,
    true,
  )
  assert.equal(await agent.stop(), 0)
  agent = await serve(on)
  assert.equal(
    ((await callAgent(D, 'keys.has', { providerId: 'p', kekId: 'after' })) as { inCache: boolean })
      .inCache,
    true,
  )
  assert.equal(await agent.stop(), 0)
})

test('an unreadable key store does not stop the boot: the admin sees it and can remove it', async (t) => {
  const { D, on } = await hostInTpmMode(t)
  let agent = await serve(on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['a', 'b', 'c'])
    await callAgent(D, 'keys.add', {
      providerId: 'p',
      kekId: k,
      key: randomBytes(32).toString('base64'),
    })
  assert.equal(await agent.stop(), 0)
  const path = join(D, 'keystore.journal')
  const bytes = readFileSync(path)
  bytes[24 + 4 + 20]! ^= 1 // first record: tampering, not a torn tail
  writeFileSync(path, bytes)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /ERR_HOST_KEYSTORE_CORRUPT/)
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
    storeError: 'ERR_HOST_KEYSTORE_CORRUPT',
  })
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [])
  assert.deepEqual(readFileSync(path), bytes, 'the store is left as found')
  await json([
    'host',
    'security',
    'keypersistence',
    'disable',
    '--remove-all-stored-keys',
    '--data-dir',
    D,
  ])
  assert.equal(existsSync(path), false)
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
  })
  assert.equal(await agent.stop(), 0)
})

test('kill -9 of the agent during a burst of keys remove: no acknowledged removal comes back, the store opens', async (t) => {
  const { D, on } = await hostInTpmMode(t)
  let agent = await serve(on)
  t.after(() => agent.kill9())
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  const all = Array.from({ length: 120 }, (_, i) => `kek-${i}`)
  for (const kekId of all)
    await callAgent(D, 'keys.add', {
      providerId: 'p',
      kekId,
      key: randomBytes(32).toString('base64'),
    })
  const removed: string[] = []
  let failed = 0
  let next = 0
  // 4 removals in flight; power is cut once 25 are acknowledged (each one moves the TPM counter)
  const worker = async (): Promise<void> => {
    while (failed === 0 && next < all.length) {
      const kekId = all[next++]!
      try {
        await callAgent(D, 'keys.remove', { providerId: 'p', kekId })
        removed.push(kekId)
        if (removed.length === 25) void agent.kill9()
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  await agent.kill9()
  assert.ok(removed.length >= 25)
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
  })
  const listed = new Set(
    ((await json(['crypto-util', 'keys', 'list', '--data-dir', D])) as { kekId: string }[]).map(
      (k) => k.kekId,
    ),
  )
  for (const k of removed) assert.ok(!listed.has(k), `removed ${k} came back`)
  assert.ok(listed.size >= all.length - next, 'keys never asked to be removed are kept')
  // removals stay anchored after the crash
  const keep = [...listed][0]!
  await callAgent(D, 'keys.remove', { providerId: 'p', kekId: keep })
  assert.equal(await agent.stop(), 0)
  agent = await serve(on)
  assert.equal(
    ((await callAgent(D, 'keys.has', { providerId: 'p', kekId: keep })) as { inCache: boolean })
      .inCache,
    false,
  )
  assert.equal(await agent.stop(), 0)
})

test('a key removed while key persistence is disabled does not come back on enable', async (t) => {
  const { dir, D, on } = await hostInTpmMode(t)
  let agent = await serve(on)
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['a', 'b'])
    await callAgent(D, 'keys.add', {
      providerId: 'p',
      kekId: k,
      key: randomBytes(32).toString('base64'),
    })
  await json(['host', 'security', 'keypersistence', 'disable', '--data-dir', D])
  assert.equal((await ward(['crypto-util', 'keys', 'remove', 'p', 'a', '--data-dir', D])).code, 0)
  assert.equal(await agent.stop(), 0)
  agent = await serve(on)
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [])
  // a key added (not persisted) and removed while disabled leaves the store alone
  const f = secretFile(join(dir, 'kek-c'), randomBytes(32))
  await ward([
    'crypto-util',
    'keys',
    'add',
    '--data-dir',
    D,
    '--provider-id',
    'p',
    '--kek-id',
    'c',
    '--kek-file',
    f,
  ])
  assert.equal((await ward(['crypto-util', 'keys', 'remove', 'p', 'c', '--data-dir', D])).code, 0)
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [
    { providerId: 'p', kekId: 'b' },
  ])
  assert.equal(await agent.stop(), 0)
})

test('a removal the TPM could not anchor is reported (ERR_HOST_KEYSTORE_ANCHOR) and anchored at the next boot', async (t) => {
  const { dir, D, tpm, on } = await hostInTpmMode(t)
  let agent = await serve(on)
  t.after(() => agent.kill9())
  await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
  await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
  for (const k of ['a', 'b'])
    await callAgent(D, 'keys.add', {
      providerId: 'p',
      kekId: k,
      key: randomBytes(32).toString('base64'),
    })
  await tpm.stop()
  const r = await ward(['crypto-util', 'keys', 'remove', 'p', 'a', '--data-dir', D])
  assert.notEqual(r.code, 0)
  assert.match(r.stderr, /ERR_HOST_KEYSTORE_ANCHOR/)
  assert.match(r.stderr, /removed from the cache and the journal/)
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [
    { providerId: 'p', kekId: 'b' },
  ])
  assert.equal(await agent.stop(), 0)
  // the same TPM back (same state, another port)
  const again = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => again.stop())
  writeFileSync(join(D, 'host.json'), JSON.stringify({ version: 1, tpm: again.spec }))
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  assert.match(agent.output(), /finished anchoring a removal/)
  assert.deepEqual(await json(['crypto-util', 'keys', 'list', '--data-dir', D]), [
    { providerId: 'p', kekId: 'b' },
  ])
  assert.deepEqual(await json(['host', 'security', 'keypersistence', 'get', '--data-dir', D]), {
    enabled: true,
  })
  assert.equal(await agent.stop(), 0)
})
