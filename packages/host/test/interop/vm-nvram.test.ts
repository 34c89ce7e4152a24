import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { bundleFromBase64, decryptVmFile, openBundle, zeroBundleKeys } from '@ward/envelope'
import { tempDir, ward, serve, secretFile, type Serving } from '../helpers/harness.js'
import { bootRun, guestOutput, powerOnGuest, waitFor, wardJson } from '../helpers/vm-guest.js'
import type { VmDescription } from '../../src/index.js'
import { buildTestGuest } from '../../src/testing/index.js'

// An encrypted efi VM's variable store is decrypted into a tmpfs for the run and sealed back into
// the datastore at every change (the agent watches the pflash file QEMU writes), not only at
// power-off: after a host crash (kill -9 of the agent and of QEMU) the sealed store in the
// datastore has the variable the guest set during the run, and it is whole (it opens).

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

test(
  'NVRAM written back live: a variable the guest sets (many writes) is in the sealed store while it runs and after a host crash; the next boot reads it',
  { timeout: 900_000 },
  async (t) => {
    const { dir, cleanup } = tempDir('ward-vm-nvram-')
    t.after(cleanup)
    const D = join(dir, 'h')
    assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', 'none'])).code, 0)
    let agent: Serving = await serve(['--data-dir', D])
    t.after(() => agent.stop())
    const kek = randomBytes(32)
    const kekFile = secretFile(join(dir, 'kek'), kek)
    const addKey = (): Promise<unknown> =>
      wardJson([
        'crypto-util',
        'keys',
        'add',
        'kp1',
        'kek-1',
        '--kek-file',
        kekFile,
        '--data-dir',
        D,
      ])
    await wardJson(['host', 'datastore', 'add', 'ds1', join(dir, 'ds1'), '--data-dir', D])
    await addKey()
    const g = await buildTestGuest()
    const vm = await wardJson<VmDescription>([
      'host',
      'vm',
      'create',
      'efi1',
      '--firmware',
      'efi',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      id: string
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), kek)
    const fileKey = new Uint8Array(opened.fileKey)
    zeroBundleKeys(opened)
    let n = 0
    /** The sealed store as it is now in the datastore (it must open: never torn). */
    const sealedStore = async (): Promise<Buffer> => {
      const out = join(dir, `store-${n++}.fd`)
      await decryptVmFile(vm.nvram!.path, out, fileKey, { vmId: cfg.id, role: 'nvram' })
      return readFileSync(out)
    }
    const value = `WARD-NVRAM-LIVE-${randomBytes(6).toString('hex')}`
    const last = `${value}-12`
    const efivars = '/sys/firmware/efi/efivars'
    const guid = 'c0ffee00-1234-4abc-8def-0123456789ab'
    const mount = `insmod /lib/modules/efivarfs.ko; mount -t efivarfs efivarfs ${efivars}`
    // the guest sets 12 non-volatile variables (NV|BS|RT) one after the other (efivarfs makes a
    // variable immutable once written, so many writes are many variables), says so, runs on
    const script = [
      mount,
      'i=1',
      'while [ $i -le 12 ]; do',
      `  printf '\\007\\000\\000\\000${value}-'$i > ${efivars}/WardLive$i-${guid} || echo WRITE-FAILED`,
      '  i=$((i + 1))',
      'done',
      `echo "VAR-SET $(tail -c +5 ${efivars}/WardLive12-${guid})"`,
      'sleep 600',
    ].join('\n')
    const on = await powerOnGuest(D, g, 'efi1', script, 0)
    const consoleText = (): string =>
      existsSync(on.console) ? readFileSync(on.console, 'utf8') : ''
    await waitFor('the guest sets its variable', () => consoleText().includes('VAR-SET'))
    assert.ok(consoleText().includes(`VAR-SET ${last}`), consoleText())
    assert.equal(consoleText().includes('WRITE-FAILED'), false, consoleText())
    // while it runs, the datastore's sealed store gets the last value (every read of it opens)
    let polls = 0
    await waitFor(
      'the variable written back into the sealed store',
      async () => {
        polls++
        return (await sealedStore()).includes(Buffer.from(last))
      },
      120_000,
    )
    const power = await wardJson<VmDescription>(['host', 'vm', 'describe', 'efi1', '--data-dir', D])
    assert.equal(power.powerState, 'poweredOn', 'written back while running, not at power-off')
    assert.ok(polls >= 1)
    // a host crash: the agent and QEMU killed with SIGKILL
    await agent.kill9()
    process.kill(on.pid!, 'SIGKILL')
    await waitFor('QEMU gone', () => !existsSync(`/proc/${on.pid}`), 30_000)
    const after = await sealedStore()
    assert.ok(after.includes(Buffer.from(last)), 'the change survived the crash')
    assert.equal(statSync(vm.nvram!.path).mode & 0o077, 0, 'the sealed store is owner-only')
    const fvh = Buffer.from('_FVH')
    for (const p of filesUnder(join(dir, 'ds1')))
      assert.equal(readFileSync(p).includes(fvh), false, `a plain variable store in ${p}`)
    // the host boots again; the guest reads the variable back
    const next = await serve(['--data-dir', D])
    assert.equal(next.exitCode, undefined, next.output())
    agent = next
    await addKey() // queued behind the boot's reap of the crashed run
    assert.equal(existsSync(`/dev/shm/ward-vm-${cfg.id}`), false, 'the tmpfs copy was wiped')
    const c2 = await bootRun(
      D,
      g,
      'efi1',
      `${mount}\nfor i in 1 2 3 4 5 6 7 8 9 10 11 12; do tail -c +5 ${efivars}/WardLive$i-${guid}; echo; done`,
      0,
    )
    for (let i = 1; i <= 12; i++) assert.ok(guestOutput(c2).includes(`${value}-${i}\n`), c2)
  },
)
