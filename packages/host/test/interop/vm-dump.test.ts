import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { CoreDumpDescription, HostStatus, VmDescription } from '../../src/index.js'
import { buildTestGuest } from '../../src/testing/index.js'
import { secretFile, ward } from '../helpers/harness.js'
import {
  addCachedKey,
  consoleCounts,
  newTestHost,
  powerOnGuest,
  rebootHost,
  waitUntil,
  wardJson,
  wardRefused,
} from '../helpers/host-cli.js'

// Host encryption mode (vSphere's HostCryptoState), the host key and `dump-memory`, end to end
// through `ward` commands: a real swtpm for the sealed configuration, a real QEMU guest (TCG)
// for the memory dump.

type CryptoStatus = HostStatus['crypto']

test('host crypto state: prepare, enable, change-key, disable and every refusal; kept in the sealed configuration across reboots (mode TPM, swtpm)', async (t) => {
  const h = await newTestHost(t, { tpm: true })
  const { D } = h
  const dd = ['--data-dir', D]
  await wardJson(['host', 'settings', 'encryption', 'set', '--mode=TPM', ...dd])
  await wardJson(['host', 'security', 'keypersistence', 'enable', ...dd])
  const st = await wardJson<HostStatus>(['host', 'status', ...dd])
  assert.deepEqual(st.crypto, { state: 'incapable', dumpFolder: join(D, 'dumps') })
  // refusals from incapable, each saying what to run
  let r = await wardRefused(
    ['host', 'crypto', 'enable', '--provider-id', 'kp1', '--key-id', 'hk-1', ...dd],
    'ERR_HOST_CRYPTO_STATE',
  )
  assert.match(r.stderr, /ward host crypto prepare/)
  await wardRefused(
    ['host', 'crypto', 'change-key', '--provider-id', 'kp1', '--key-id', 'hk-1', ...dd],
    'ERR_HOST_CRYPTO_STATE',
  )
  await wardRefused(['host', 'crypto', 'disable', ...dd], 'ERR_HOST_CRYPTO_STATE')
  r = await wardRefused(
    [
      'host',
      'crypto',
      'export-key',
      '--out',
      join(h.dir, 'x'),
      '--password-file',
      secretFile(join(h.dir, 'pw'), 'pw'),
      ...dd,
    ],
    'ERR_HOST_CRYPTO_STATE',
  )
  assert.equal(existsSync(join(h.dir, 'x')), false)
  // prepare (twice: the second is a no-op)
  assert.equal(
    (await wardJson<CryptoStatus>(['host', 'crypto', 'prepare', ...dd])).state,
    'prepared',
  )
  assert.equal(
    (await wardJson<CryptoStatus>(['host', 'crypto', 'prepare', ...dd])).state,
    'prepared',
  )
  // the host key must be in the key cache, and 32 bytes
  r = await wardRefused(
    ['host', 'crypto', 'enable', '--provider-id', 'kp1', '--key-id', 'hk-1', ...dd],
    'ERR_HOST_KEY_NOT_FOUND',
  )
  assert.match(r.stderr, /crypto-util keys add/)
  await addCachedKey(h, 'kp1', 'hk-1')
  const safe = await wardJson<CryptoStatus>([
    'host',
    'crypto',
    'enable',
    '--provider-id',
    'kp1',
    '--key-id',
    'hk-1',
    ...dd,
  ])
  assert.deepEqual(safe, {
    state: 'safe',
    hostKey: { providerId: 'kp1', keyId: 'hk-1', present: true },
    dumpFolder: join(D, 'dumps'),
  })
  r = await wardRefused(
    ['host', 'crypto', 'enable', '--provider-id', 'kp1', '--key-id', 'hk-1', ...dd],
    'ERR_HOST_CRYPTO_STATE',
  )
  assert.match(r.stderr, /change-key/)
  await wardRefused(['host', 'crypto', 'prepare', ...dd], 'ERR_HOST_CRYPTO_STATE')
  // a reboot: the state comes back from the sealed configuration, the host key from key persistence
  await rebootHost(h)
  assert.deepEqual(await wardJson<CryptoStatus>(['host', 'crypto', 'status', ...dd]), safe)
  // change-key with no dumps yet
  await addCachedKey(h, 'kp1', 'hk-2')
  const changed = await wardJson<CryptoStatus & { rewrapped: string[] }>([
    'host',
    'crypto',
    'change-key',
    '--provider-id',
    'kp1',
    '--key-id',
    'hk-2',
    ...dd,
  ])
  assert.deepEqual(changed.hostKey, { providerId: 'kp1', keyId: 'hk-2', present: true })
  assert.deepEqual(changed.rewrapped, [])
  // the host key removed from the cache: status says so
  await wardJson(['crypto-util', 'keys', 'remove', 'kp1', 'hk-2', ...dd])
  const missing = await wardJson<CryptoStatus>(['host', 'crypto', 'status', ...dd])
  assert.deepEqual(missing.hostKey, { providerId: 'kp1', keyId: 'hk-2', present: false })
  const text = await ward(['host', 'crypto', 'status', ...dd])
  assert.match(text.stdout, /Crypto State: safe/)
  assert.match(text.stdout, /NOT in the key cache/)
  await addCachedKey(h, 'kp1', 'hk-2')
  // a VM whose KEK is the host key's cache entry leaves without taking the host key along
  await wardJson([
    'host',
    'vm',
    'create',
    'shares-hk',
    '--disk',
    '8M',
    '--encrypt',
    '--provider-id',
    'kp1',
    '--kek-id',
    'hk-2',
    ...dd,
  ])
  const gone = await wardJson<{ evictedKey: boolean }>([
    'host',
    'vm',
    'unregister',
    'shares-hk',
    ...dd,
  ])
  assert.equal(gone.evictedKey, false)
  assert.deepEqual((await wardJson<CryptoStatus>(['host', 'crypto', 'status', ...dd])).hostKey, {
    providerId: 'kp1',
    keyId: 'hk-2',
    present: true,
  })
  // disable: pendingIncapable, no new encrypted VM work, a reboot finishes it
  const off = await ward(['host', 'crypto', 'disable', ...dd])
  assert.equal(off.code, 0, off.stderr)
  assert.match(off.stdout, /pendingIncapable/)
  assert.match(off.stdout, /next reboot/)
  await addCachedKey(h, 'kp1', 'kek-1')
  r = await wardRefused(
    [
      'host',
      'vm',
      'create',
      'enc1',
      '--disk',
      '8M',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      ...dd,
    ],
    'ERR_HOST_CRYPTO_STATE',
  )
  assert.match(r.stderr, /restart ward host serve/)
  // VMs without encryption are unaffected
  const plain = await wardJson<VmDescription>([
    'host',
    'vm',
    'create',
    'plain1',
    '--disk',
    '8M',
    ...dd,
  ])
  assert.equal(plain.encrypted, false)
  await wardRefused(
    ['host', 'vm', 'encrypt', 'plain1', '--provider-id', 'kp1', '--kek-id', 'kek-1', ...dd],
    'ERR_HOST_CRYPTO_STATE',
  )
  await wardRefused(['host', 'crypto', 'prepare', ...dd], 'ERR_HOST_CRYPTO_STATE')
  await rebootHost(h)
  const after = await wardJson<CryptoStatus>(['host', 'crypto', 'status', ...dd])
  assert.deepEqual(after, { state: 'incapable', dumpFolder: join(D, 'dumps') })
  assert.match(h.agent.output(), /pendingIncapable → incapable/)
  // the host key stays in the cache like any key; encrypted VM work is accepted again
  const keys = await wardJson<{ kekId: string }[]>(['crypto-util', 'keys', 'list', ...dd])
  assert.ok(keys.some((k) => k.kekId === 'hk-2'))
  const enc = await wardJson<VmDescription>([
    'host',
    'vm',
    'encrypt',
    'plain1',
    '--provider-id',
    'kp1',
    '--kek-id',
    'kek-1',
    ...dd,
  ])
  assert.equal(enc.encrypted, true)
  assert.equal(
    (await wardJson<CryptoStatus>(['host', 'crypto', 'prepare', ...dd])).state,
    'prepared',
  )
})

/** Every regular file under `dir` (sockets and FIFOs skipped). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    const s = lstatSync(p)
    if (s.isDirectory()) out.push(...filesUnder(p))
    else if (s.isFile()) out.push(p)
  }
  return out
}

test(
  'dump-memory: refused unless safe; the dump is sealed under the host key (no plain pattern), the guest runs on; decrypt with the key or a password-protected export gives the ELF; change-key rewraps it; the host key never leaks',
  { timeout: 900_000 },
  async (t) => {
    const h = await newTestHost(t)
    const { D, dir } = h
    const dd = ['--data-dir', D]
    const g = await buildTestGuest()
    const vm = await wardJson<VmDescription>([
      'host',
      'vm',
      'create',
      'd1',
      '--memory',
      '128M',
      '--disk',
      '8M',
      ...dd,
    ])
    const ram = `WARD-DUMP-PATTERN-${randomBytes(6).toString('hex')}`
    const script = [
      // the pattern lives in guest RAM (the initramfs is a tmpfs), split so it is nowhere on the command line
      `yes "${ram.slice(0, 10)}""${ram.slice(10)}" | head -c 4194304 > /tmp/ram`,
      'i=0',
      'while true; do i=$((i + 1)); echo "COUNT $i"; sleep 0.3; done',
    ].join('\n')
    await powerOnGuest(h, g, 'd1', script)
    await waitUntil('the counter runs', () => consoleCounts(vm).length >= 3)
    // not safe yet: refused, saying how to enable host encryption mode
    let r = await wardRefused(['host', 'vm', 'dump-memory', 'd1', ...dd], 'ERR_HOST_CRYPTO_STATE')
    assert.match(r.stderr, /host encryption mode/)
    assert.match(r.stderr, /ward host crypto prepare/)
    await wardJson(['host', 'crypto', 'prepare', ...dd])
    r = await wardRefused(['host', 'vm', 'dump-memory', 'd1', ...dd], 'ERR_HOST_CRYPTO_STATE')
    assert.match(r.stderr, /ward host crypto enable/)
    // the canary host key
    const hk1 = await addCachedKey(h, 'kp1', 'hk-1')
    await wardJson(['host', 'crypto', 'enable', '--provider-id', 'kp1', '--key-id', 'hk-1', ...dd])
    const before = consoleCounts(vm).at(-1)!
    const dump = await wardJson<{ file: string; hostKeyId: string; plaintextBytes: number }>([
      'host',
      'vm',
      'dump-memory',
      'd1',
      ...dd,
    ])
    assert.equal(dump.hostKeyId, 'hk-1')
    assert.equal(join(dump.file, '..'), join(D, 'dumps'))
    assert.equal(statSync(join(D, 'dumps')).mode & 0o777, 0o700)
    assert.equal(statSync(dump.file).mode & 0o777, 0o600)
    assert.ok(
      dump.plaintextBytes > 128 * 1024 * 1024,
      `an ELF of the guest's 128 MiB: ${dump.plaintextBytes}`,
    )
    const sealed = readFileSync(dump.file)
    assert.equal(sealed.includes(Buffer.from(ram)), false, 'plain guest memory in the dump')
    assert.equal(sealed.includes(Buffer.from('COUNT ')), false)
    assert.equal(sealed.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')), false)
    // the guest keeps running
    await waitUntil(
      'the counter goes on after the dump',
      () => consoleCounts(vm).at(-1)! >= before + 3,
    )
    assert.equal(
      (await wardJson<VmDescription>(['host', 'vm', 'describe', 'd1', ...dd])).powerState,
      'poweredOn',
    )
    // describe: the host key id, no key material
    const d = await wardJson<CoreDumpDescription>([
      'crypto-util',
      'coredump',
      'describe',
      dump.file,
    ])
    assert.equal(d.hostKeyId, 'hk-1')
    assert.equal(d.hostProviderId, 'kp1')
    assert.equal(d.vmName, 'd1')
    assert.equal(d.vmId, vm.id)
    assert.equal(d.plaintextSize, dump.plaintextBytes)
    const dtext = await ward(['crypto-util', 'coredump', 'describe', dump.file])
    assert.match(dtext.stdout, /keyID:\s+'hk-1'/)
    // crypto-util envelope describe knows it too (ESXi: envelope describe of a zdump), and isencrypted
    const env = await wardJson<CoreDumpDescription & { kind: string }>([
      'crypto-util',
      'envelope',
      'describe',
      dump.file,
    ])
    assert.deepEqual(env, { kind: 'coredump', ...d })
    const etext = await ward(['crypto-util', 'envelope', 'describe', dump.file])
    assert.match(etext.stdout, /kind:\s+coredump/)
    assert.match(etext.stdout, /keyID:\s+'hk-1'/)
    assert.equal((await ward(['crypto-util', 'isencrypted', dump.file])).code, 0)
    // decrypt with the raw host key: an ELF holding the pattern
    const isElfWithPattern = (f: string): void => {
      const b = readFileSync(f)
      assert.ok(b.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1')), 'ELF magic')
      assert.ok(b.includes(Buffer.from(ram)), 'the guest memory holds the pattern')
      assert.equal(b.length, dump.plaintextBytes)
    }
    const elf1 = join(dir, 'd1.elf')
    await wardJson(['crypto-util', 'coredump', 'decrypt', dump.file, elf1, '--key-file', hk1.file])
    isElfWithPattern(elf1)
    // a password-protected export of the host key
    const pw = secretFile(join(dir, 'pw'), `pw-${randomBytes(8).toString('hex')}`)
    const exp = join(dir, 'host-key.export')
    await wardJson(['host', 'crypto', 'export-key', '--out', exp, '--password-file', pw, ...dd])
    assert.equal(statSync(exp).mode & 0o777, 0o600)
    assert.equal(readFileSync(exp).includes(hk1.key), false)
    const elf2 = join(dir, 'd1-export.elf')
    await wardJson([
      'crypto-util',
      'coredump',
      'decrypt',
      dump.file,
      elf2,
      '--key-export',
      exp,
      '--password-file',
      pw,
    ])
    isElfWithPattern(elf2)
    // a wrong password, a wrong key: coded errors, no output file
    const bad = join(dir, 'bad.elf')
    r = await wardRefused(
      [
        'crypto-util',
        'coredump',
        'decrypt',
        dump.file,
        bad,
        '--key-export',
        exp,
        '--password-file',
        secretFile(join(dir, 'wrong-pw'), 'not the password'),
      ],
      'ERR_HOST_KEY_EXPORT_PASSWORD',
    )
    assert.match(r.stderr, /wrong password/)
    assert.equal(existsSync(bad), false)
    const other = secretFile(join(dir, 'other.key'), randomBytes(32))
    r = await wardRefused(
      ['crypto-util', 'coredump', 'decrypt', dump.file, bad, '--key-file', other],
      'ERR_HOST_COREDUMP_WRONG_KEY',
    )
    assert.match(r.stderr, /hk-1/)
    assert.equal(existsSync(bad), false)
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    )
    // change-key: the existing dump is rewrapped and opens with the new key only
    const hk2 = await addCachedKey(h, 'kp1', 'hk-2')
    const ch = await wardJson<{ rewrapped: string[]; notRewrapped: unknown[] }>([
      'host',
      'crypto',
      'change-key',
      '--provider-id',
      'kp1',
      '--key-id',
      'hk-2',
      ...dd,
    ])
    assert.deepEqual(ch.rewrapped, [dump.file])
    assert.deepEqual(ch.notRewrapped, [])
    assert.equal(
      (await wardJson<CoreDumpDescription>(['crypto-util', 'coredump', 'describe', dump.file]))
        .hostKeyId,
      'hk-2',
    )
    await wardRefused(
      ['crypto-util', 'coredump', 'decrypt', dump.file, bad, '--key-file', hk1.file],
      'ERR_HOST_COREDUMP_WRONG_KEY',
    )
    await wardRefused(
      [
        'crypto-util',
        'coredump',
        'decrypt',
        dump.file,
        bad,
        '--key-export',
        exp,
        '--password-file',
        pw,
      ],
      'ERR_HOST_COREDUMP_WRONG_KEY',
    )
    assert.equal(existsSync(bad), false)
    const elf3 = join(dir, 'd1-new-key.elf')
    await wardJson(['crypto-util', 'coredump', 'decrypt', dump.file, elf3, '--key-file', hk2.file])
    isElfWithPattern(elf3)
    // a second dump, to a chosen file, under the new key; never overwriting
    const out2 = join(dir, 'second.coredump')
    const dump2 = await wardJson<{ file: string; hostKeyId: string }>([
      'host',
      'vm',
      'dump-memory',
      'd1',
      '--out',
      out2,
      ...dd,
    ])
    assert.equal(dump2.file, out2)
    assert.equal(dump2.hostKeyId, 'hk-2')
    await wardRefused(
      ['host', 'vm', 'dump-memory', 'd1', '--out', out2, ...dd],
      'ERR_HOST_BAD_ARGUMENT',
    )
    // the canary host keys: in no log, no file of the run folder, the dump folder or the VM folder
    const canaries = [hk1.key, hk2.key].flatMap((k) => [
      k,
      Buffer.from(k.toString('hex')),
      Buffer.from(k.toString('base64')),
    ])
    assert.ok(
      !canaries.some((c) => Buffer.from(h.agent.output()).includes(c)),
      'host key in the agent log',
    )
    const files = [
      ...filesUnder(join(D, 'run')),
      ...filesUnder(join(D, 'dumps')),
      ...filesUnder(vm.path),
      dump.file,
      out2,
      exp,
    ]
    assert.ok(files.length > 3)
    for (const f of files) {
      const b = readFileSync(f)
      for (const c of canaries) assert.equal(b.includes(c), false, `host key in ${f}`)
    }
    // best effort: a dump whose host key is not in the cache is named and left as it is; the
    // same change-key again, once the key is back, rewraps it
    await wardJson(['crypto-util', 'keys', 'remove', 'kp1', 'hk-2', ...dd])
    const hk3 = await addCachedKey(h, 'kp1', 'hk-3')
    const ck = ['host', 'crypto', 'change-key', '--provider-id', 'kp1', '--key-id', 'hk-3', ...dd]
    r = await ward([...ck, '--json'])
    assert.equal(r.code, 1, r.stderr)
    const partial = JSON.parse(r.stdout) as {
      rewrapped: string[]
      notRewrapped: { file: string; reason: string }[]
    }
    assert.deepEqual(partial.rewrapped, [])
    assert.deepEqual(
      partial.notRewrapped.map((x) => x.file),
      [dump.file],
    )
    assert.match(partial.notRewrapped[0]!.reason, /hk-2\) is not in the key cache/)
    assert.equal(
      (await wardJson<CoreDumpDescription>(['crypto-util', 'coredump', 'describe', dump.file]))
        .hostKeyId,
      'hk-2',
    )
    await wardJson(['crypto-util', 'keys', 'add', 'kp1', 'hk-2', '--kek-file', hk2.file, ...dd])
    const retry = await wardJson<{ rewrapped: string[] }>(ck)
    assert.deepEqual(retry.rewrapped, [dump.file])
    const elf4 = join(dir, 'd1-hk3.elf')
    await wardJson(['crypto-util', 'coredump', 'decrypt', dump.file, elf4, '--key-file', hk3.file])
    isElfWithPattern(elf4)
    const off = await wardJson<VmDescription>(['host', 'vm', 'power-off', 'd1', '--hard', ...dd])
    assert.equal(off.powerState, 'poweredOff')
    // a VM that is not running: refused
    await wardRefused(['host', 'vm', 'dump-memory', 'd1', ...dd], 'ERR_HOST_VM_POWER_STATE')
  },
)
