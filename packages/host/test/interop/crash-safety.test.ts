// The configuration change protocol (write config.archive.next and encryption.info.next,
// increment the TPM counter, rename) stopped after each of its steps, for every kind of change,
// against swtpm: the next boot always unseals with the TPM, holds either the old or the new
// state (new exactly when the counter moved), leaves no .next file and keeps every key.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { existsSync, readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { createLogger } from '@ward/core'
import { HostAgent, callAgent, initHost, parseTpmSpec } from '../../src/index.js'
import type { CommitStep } from '../../src/config/secure-config.js'
import { tempDir, serve, ward } from '../helpers/harness.js'
import { startSwtpm } from '@ward/tpm2/testing'

const STEPS: readonly CommitStep[] = [
  'next-written',
  'counter-incremented',
  'archive-renamed',
  'info-renamed',
]
const logger = createLogger('host', { level: 'silent' })

interface Lab {
  D: string
  /** a boot; the change it runs crashes after `crashAt` */
  boot(crashAt?: CommitStep): Promise<HostAgent>
}

async function lab(t: { after: (fn: () => unknown) => void }, name: string): Promise<Lab> {
  const { dir, cleanup } = tempDir(`ward-crash-${name}-`)
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  initHost(D, parseTpmSpec(tpm.spec))
  return {
    D,
    boot: (crashAt) =>
      HostAgent.boot({
        dataDir: D,
        simulateFirmware: { secureBoot: true },
        logger,
        onCommitStep: (s) => {
          if (s === crashAt) throw new Error(`crash after ${s}`)
        },
      }),
  }
}

const leftovers = (D: string): string[] => readdirSync(D).filter((f) => f.endsWith('.next'))

interface State {
  settings: unknown
  recoveryId: string | undefined
  persistence: unknown
  keys: unknown
}

async function state(a: HostAgent): Promise<State> {
  const settings = await a.handle('settings.encryption.get', {})
  const recoveryId =
    (settings as { mode: string }).mode === 'TPM'
      ? ((await a.handle('settings.encryption.recovery.list', {})) as { id: string }).id
      : undefined
  return {
    settings,
    recoveryId,
    persistence: await a.handle('security.keypersistence.get', {}),
    keys: await a.handle('keys.list', {}),
  }
}

/**
 * Run `change` on a booted agent with a crash after `step`, boot again and compare with the
 * state before (crash before the counter moved) or with `expected` (after).
 */
async function crashAndBoot(
  l: Lab,
  step: CommitStep,
  change: (a: HostAgent) => Promise<unknown>,
  expected: (before: State, after: State) => void,
): Promise<void> {
  let a = await l.boot(step)
  const path = a.bootStats.unlockedWith
  const before = await state(a)
  await assert.rejects(change(a), new RegExp(`crash after ${step}`))
  // power lost: nothing of the agent's memory survives (its TPM connection is already closed)
  a = await l.boot()
  try {
    assert.equal(
      a.bootStats.unlockedWith,
      step === 'next-written' ? path : 'tpm',
      `${step}: unlocked after the crash`,
    )
    assert.deepEqual(leftovers(l.D), [], `${step}: .next files left`)
    const after = await state(a)
    if (step === 'next-written') assert.deepEqual(after, before, `${step}: the old state`)
    else expected(before, after)
    assert.equal(
      (after.persistence as { storeError?: string }).storeError,
      undefined,
      `${step}: key store`,
    )
  } finally {
    await a.close()
  }
  // and it boots again (the recovered state is itself consistent)
  a = await l.boot()
  assert.equal(a.bootStats.unlockedWith, step === 'next-written' ? path : 'tpm')
  await a.close()
}

test('crash after every step of the switch to mode TPM', async (t) => {
  for (const step of STEPS) {
    const l = await lab(t, 'switch')
    await crashAndBoot(
      l,
      step,
      (a) => a.handle('settings.encryption.set', { mode: 'TPM', requireSecureBoot: true }),
      (_, after) =>
        assert.deepEqual(after.settings, {
          mode: 'TPM',
          requireSecureBoot: true,
          requireExecInstalledOnly: false,
        }),
    )
    // a switch lost before its commit can be made again; one after it stays
    const a = await l.boot()
    if (step === 'next-written') await a.handle('settings.encryption.set', { mode: 'TPM' })
    assert.equal(((await a.handle('settings.encryption.get', {})) as { mode: string }).mode, 'TPM')
    await a.close()
  }
})

test('crash after every step of a policy change, a recovery rotation (with its key store), enable and disable --remove-all-stored-keys', async (t) => {
  const l = await lab(t, 'changes')
  let a = await l.boot()
  await a.handle('settings.encryption.set', { mode: 'TPM' })
  await a.handle('security.keypersistence.enable', {})
  for (const k of ['a', 'b', 'c'])
    await a.handle('keys.add', {
      providerId: 'p',
      kekId: k,
      key: randomBytes(32).toString('base64'),
    })
  await a.close()
  const keys = [
    { providerId: 'p', kekId: 'a' },
    { providerId: 'p', kekId: 'b' },
    { providerId: 'p', kekId: 'c' },
  ]
  for (const step of STEPS) {
    let want = false
    await crashAndBoot(
      l,
      step,
      async (x) => {
        const cur = (await x.handle('settings.encryption.get', {})) as {
          requireExecInstalledOnly: boolean
        }
        want = !cur.requireExecInstalledOnly
        return x.handle('settings.encryption.set', { requireExecInstalledOnly: want })
      },
      (before, after) => {
        assert.deepEqual(after.settings, {
          mode: 'TPM',
          requireSecureBoot: false,
          requireExecInstalledOnly: want,
        })
        assert.deepEqual(after.keys, before.keys)
      },
    )
    await crashAndBoot(
      l,
      step,
      (x) => x.handle('settings.encryption.recovery.rotate', {}),
      (before, after) => {
        assert.notEqual(after.recoveryId, before.recoveryId, `${step}: the new recovery key`)
        assert.deepEqual(after.keys, keys, `${step}: every key in the re-encrypted store`)
      },
    )
  }
  for (const step of STEPS) {
    await crashAndBoot(
      l,
      step,
      (x) => x.handle('security.keypersistence.disable', { removeAllStoredKeys: true }),
      (_, after) => {
        assert.deepEqual(after.persistence, { enabled: false })
        assert.deepEqual(after.keys, [])
      },
    )
    if (step !== 'next-written') assert.equal(existsSync(join(l.D, 'keystore.journal')), false)
    a = await l.boot()
    if (!((await a.handle('security.keypersistence.get', {})) as { enabled: boolean }).enabled) {
      await a.close()
      await crashAndBoot(
        l,
        step,
        (x) => x.handle('security.keypersistence.enable', {}),
        (_, after) => assert.deepEqual(after.persistence, { enabled: true }),
      )
      a = await l.boot()
      if (!((await a.handle('security.keypersistence.get', {})) as { enabled: boolean }).enabled)
        await a.handle('security.keypersistence.enable', {})
    }
    for (const k of keys)
      await a.handle('keys.add', { ...k, key: randomBytes(32).toString('base64') })
    await a.close()
  }
})

test('kill -9 of the agent (the real CLI) during a stream of policy changes and recovery rotations: every boot unseals, with an acknowledged or the in-flight state', async (t) => {
  const { dir, cleanup } = tempDir('ward-crash-kill-')
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
  let agent = await serve(on)
  t.after(() => agent.kill9())
  await callAgent(D, 'settings.encryption.set', { mode: 'TPM' })
  await callAgent(D, 'security.keypersistence.enable', {})
  await callAgent(D, 'keys.add', {
    providerId: 'p',
    kekId: 'k',
    key: randomBytes(32).toString('base64'),
  })
  let acked = false // requireExecInstalledOnly, as last acknowledged
  let interrupted = 0
  for (let round = 0; round < 8; round++) {
    let inFlight: boolean | undefined
    let stop = false
    const changes = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          if (i % 3 === 2) await callAgent(D, 'settings.encryption.recovery.rotate', {})
          else {
            inFlight = !acked
            await callAgent(D, 'settings.encryption.set', { requireExecInstalledOnly: inFlight })
            acked = inFlight
            inFlight = undefined
          }
        } catch {
          return
        }
      }
    })()
    await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 900)))
    await agent.kill9()
    stop = true
    await changes
    agent = await serve(on)
    assert.equal(agent.exitCode, undefined, `round ${round}: ${agent.output()}`)
    assert.match(agent.output(), /"unlockedWith":"tpm"/, `round ${round}`)
    if (
      /interrupted (configuration change|after it was committed)|re-encryption/.test(agent.output())
    )
      interrupted++
    assert.deepEqual(
      readdirSync(D).filter((f) => f.endsWith('.next')),
      [],
    )
    const s = (await callAgent(D, 'settings.encryption.get', {})) as {
      requireExecInstalledOnly: boolean
    }
    assert.ok(
      s.requireExecInstalledOnly === acked || s.requireExecInstalledOnly === inFlight,
      `round ${round}: ${JSON.stringify(s)} vs acknowledged ${acked}`,
    )
    acked = s.requireExecInstalledOnly
    assert.deepEqual(await callAgent(D, 'security.keypersistence.get', {}), { enabled: true })
    assert.equal(
      ((await callAgent(D, 'keys.has', { providerId: 'p', kekId: 'k' })) as { inCache: boolean })
        .inCache,
      true,
    )
  }
  t.diagnostic(`${interrupted} of 8 kills interrupted a configuration change`)
  assert.equal(await agent.stop(), 0)
})
