import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { VmDescription } from '../../src/index.js'
import type { GuestImage } from '../../src/testing/index.js'
import { ward } from './harness.js'

// The test guest's boot and wait steps, shared by the VM interop tests (vm-runtime, vm-snapshot,
// vm-crypto-resume, ...): a `ward ... --json` call, the guest's kernel command line, waiting for
// a state, and a whole run of a guest script (power on, wait for the guest to power off).

export const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex')

/** Run `ward ARGS --json`, assert it succeeded, return its parsed stdout. */
export async function wardJson<T = unknown>(args: readonly string[]): Promise<T> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** The guest's kernel command line: console, the number of disks, the script (base64). */
export const guestAppend = (script: string, disks = 1): string =>
  `console=ttyS0 quiet panic=-1 ward.disks=${disks} ward.cmd=${Buffer.from(script).toString('base64')}`

/** Poll `fn` every 300 ms until it is true; fail after `ms` (generous: the machine is shared). */
export async function waitFor(
  what: string,
  fn: () => Promise<boolean> | boolean,
  ms = 180_000,
): Promise<void> {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

/** `vm describe` until the VM is powered off; its last description. */
export async function waitPoweredOff(
  D: string,
  name: string,
  ms = 180_000,
): Promise<VmDescription> {
  const end = Date.now() + ms
  for (;;) {
    const d = await wardJson<VmDescription>(['host', 'vm', 'describe', name, '--data-dir', D])
    if (d.powerState === 'poweredOff') return d
    if (Date.now() > end) throw new Error(`${name} still ${d.powerState} after ${ms} ms`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

/** Power on the test guest with `script` (under TCG, as the agent's probe decides here). */
export async function powerOnGuest(
  D: string,
  g: GuestImage,
  name: string,
  script: string,
  disks = 1,
): Promise<VmDescription> {
  const on = await wardJson<VmDescription>([
    'host',
    'vm',
    'power-on',
    name,
    '--data-dir',
    D,
    '--kernel',
    g.kernel,
    '--initrd',
    g.initrd,
    '--append',
    guestAppend(script, disks),
  ])
  assert.equal(on.powerState, 'poweredOn')
  assert.equal(on.accelerator, 'tcg')
  return on
}

/** Boot the guest with `script`, wait for it to power itself off, return its console. */
export async function bootRun(
  D: string,
  g: GuestImage,
  name: string,
  script: string,
  disks = 1,
): Promise<string> {
  await powerOnGuest(D, g, name, script, disks)
  const off = await waitPoweredOff(D, name)
  const console = readFileSync(off.console, 'utf8').replace(/\r/g, '')
  assert.match(console, /WARD-GUEST-EXIT 0/, console)
  return console
}

/** What the guest's script printed: between WARD-GUEST-READY and WARD-GUEST-EXIT. */
export const guestOutput = (console: string): string =>
  console.slice(console.indexOf('WARD-GUEST-READY') + 17, console.indexOf('WARD-GUEST-EXIT'))
