import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startSwtpm } from '@ward/tpm2/testing'
import type { VmDescription } from '../../src/index.js'
import type { GuestImage } from '../../src/testing/index.js'
import { secretFile, serve, tempDir, ward, type RunResult, type Serving } from './harness.js'

/** `ward ... --json`, asserting exit 0, parsed. */
export async function wardJson<T = unknown>(args: readonly string[]): Promise<T> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

/** `ward ...` that must fail with `code` in its message. */
export async function wardRefused(args: readonly string[], code: string): Promise<RunResult> {
  const r = await ward(args)
  assert.notEqual(r.code, 0, `ward ${args.join(' ')} should have failed: ${r.stdout}`)
  assert.ok(r.stderr.includes(code), `expected ${code}: ${r.stderr}`)
  return r
}

export interface TestHost {
  readonly dir: string
  readonly D: string
  /** `ward host serve` flags (restart the agent with them). */
  readonly flags: string[]
  agent: Serving
}

/**
 * A host in a temp folder, its agent serving, one datastore (ds1). `tpm`: a real swtpm (the
 * agent simulates firmware), else no TPM.
 */
export async function newTestHost(
  t: { after: (fn: () => unknown) => void },
  o: { tpm?: boolean } = {},
): Promise<TestHost> {
  const { dir, cleanup } = tempDir('ward-hk-')
  t.after(cleanup)
  const D = join(dir, 'h')
  let spec = 'none'
  if (o.tpm) {
    const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    t.after(() => tpm.stop())
    spec = tpm.spec
  }
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', spec])).code, 0)
  const flags = o.tpm ? ['--data-dir', D, '--simulate-firmware'] : ['--data-dir', D]
  const agent = await serve(flags)
  assert.equal(agent.exitCode, undefined, agent.output())
  const h: TestHost = { dir, D, flags, agent }
  t.after(() => h.agent.stop())
  await wardJson(['host', 'datastore', 'add', 'ds1', join(dir, 'ds1'), '--data-dir', D])
  return h
}

/** Restart the agent (a host reboot). */
export async function rebootHost(h: TestHost): Promise<void> {
  await h.agent.stop()
  const agent = await serve(h.flags)
  assert.equal(agent.exitCode, undefined, agent.output())
  h.agent = agent
}

/** A random 32-byte key in a 0600 file, added to the host's key cache as (providerId, kekId). */
export async function addCachedKey(
  h: TestHost,
  providerId: string,
  kekId: string,
): Promise<{ key: Buffer; file: string }> {
  const key = randomBytes(32)
  const file = secretFile(join(h.dir, `${kekId}.key`), key)
  await wardJson([
    'crypto-util',
    'keys',
    'add',
    providerId,
    kekId,
    '--kek-file',
    file,
    '--data-dir',
    h.D,
  ])
  return { key, file }
}

/** The test guest's kernel command line: console, the number of disks, the script. */
export const guestAppend = (script: string, disks = 1): string =>
  `console=ttyS0 quiet panic=-1 ward.disks=${disks} ward.cmd=${Buffer.from(script).toString('base64')}`

/** Power a VM on with the test guest running `script`. */
export async function powerOnGuest(
  h: TestHost,
  g: GuestImage,
  name: string,
  script: string,
): Promise<VmDescription> {
  return wardJson<VmDescription>([
    'host',
    'vm',
    'power-on',
    name,
    '--data-dir',
    h.D,
    '--kernel',
    g.kernel,
    '--initrd',
    g.initrd,
    '--append',
    guestAppend(script),
  ])
}

export async function waitUntil(
  what: string,
  fn: () => boolean | Promise<boolean>,
  ms = 180_000,
): Promise<void> {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

/** The COUNT lines a guest's counter loop printed on its console. */
export const consoleCounts = (vm: VmDescription): number[] =>
  [...readFileSync(vm.console, 'utf8').matchAll(/COUNT (\d+)/g)].map((m) => Number(m[1]))
