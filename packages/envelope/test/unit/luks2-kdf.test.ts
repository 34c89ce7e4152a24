import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, readdirSync, readFileSync, symlinkSync } from 'node:fs'
import { decryptDisk, describeDisk, encryptDisk, KDF_ATTEMPT_BUDGET_NS } from '../../src/index.js'
import { journalPath } from '../../src/disk/journal.js'
import { argon2Derive } from '../../src/kdf/argon2.js'
import { newKeyslotKdf } from '../../src/luks2/kdf.js'
import { readJson, resealJson, same, SMALL_ARGON2, SMALL_PBKDF2, tmp } from './luks2-fixtures.js'

// Keyslot KDFs (issue 9: argon2 keyslots; issue 10: bound the KDF work of a passphrase attempt):
// argon2id/argon2i/pbkdf2 keyslots Ward writes open again; hostile KDF parameters are refused
// with ERR_LUKS2_KDF_PARAMS before any KDF memory is allocated; the total work of one attempt
// is bounded (ERR_LUKS2_KDF_BUDGET) before any of it is done.

const t = tmp('ward-luks2-kdf-')
after(() => t.cleanup())
const kek = new Uint8Array(randomBytes(32))
const pass = new TextEncoder().encode('kdf pass')
const raw = t.random('raw', 64 * 1024)
const argonDisk = t.path('argon.luks')
const pbkdfDisk = t.path('pbkdf.luks')
let n = 0

before(async () => {
  await encryptDisk(raw, argonDisk, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_ARGON2,
  })
  await encryptDisk(raw, pbkdfDisk, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_PBKDF2,
  })
})

/** Hostile JSON is mutated freely in these tests: any shape, on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>

const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex')

function hostile(base: string, mutate: (j: Loose) => void): string {
  const d = t.path(`case-${n++}.luks`)
  copyFileSync(base, d)
  const j = readJson(d) as Loose
  mutate(j)
  resealJson(d, JSON.stringify(j))
  return d
}

/** Decrypt with the passphrase; returns the error code (or 'ok'), checking nothing was written. */
async function attempt(disk: string, keyslot?: string): Promise<string> {
  const before = digest(disk)
  const out = t.path(`out-${n++}`)
  try {
    await decryptDisk(disk, out, {
      unlock: { passphrase: pass, ...(keyslot !== undefined ? { keyslot } : {}) },
    })
    assert.ok(same(out, raw))
    return 'ok'
  } catch (e) {
    assert.ok(
      !existsSync(out) && !readdirSync(t.dir).some((f) => f.includes('ward-tmp')),
      'no output left',
    )
    return (e as { code?: string }).code ?? String(e)
  } finally {
    assert.equal(digest(disk), before, 'input unchanged')
  }
}

test('argon2id, argon2i and pbkdf2 keyslots Ward writes open with their passphrase; describe shows the KDF', async () => {
  for (const kdf of [SMALL_ARGON2, { ...SMALL_ARGON2, type: 'argon2i', parallelism: 2 } as const]) {
    const d = t.path(`w-${kdf.type}.luks`)
    await encryptDisk(raw, d, {
      kek,
      providerId: 'p',
      kekId: 'k',
      recoveryPassphrase: pass,
      recoveryKdf: kdf,
    })
    assert.equal(await attempt(d), 'ok')
    const ks = readJson(d).keyslots as Loose
    assert.deepEqual(Object.keys(ks['0'].kdf).sort(), ['cpus', 'memory', 'salt', 'time', 'type'])
    assert.equal(Buffer.from(ks['0'].kdf.salt as string, 'base64').length, 32)
    assert.deepEqual(describeDisk(d).keyslots, [
      {
        id: '0',
        type: 'luks2',
        kdf: kdf.type,
        iterations: 4,
        memoryKiB: 32768,
        parallelism: kdf.parallelism,
      },
    ])
  }
  assert.equal(await attempt(pbkdfDisk), 'ok')
  assert.deepEqual(describeDisk(pbkdfDisk).keyslots, [
    { id: '0', type: 'luks2', kdf: 'pbkdf2', hash: 'sha256', iterations: 1000 },
  ])
})

test('hostile argon2/pbkdf2 parameters: ERR_LUKS2_KDF_PARAMS before any KDF memory is allocated', async () => {
  const baseline = process.resourceUsage().maxRSS // KiB
  const salt16 = randomBytes(16).toString('base64')
  const cases: [string, string, (kdf: Loose) => void][] = [
    ['argon', 'memory 1 TiB', (k) => (k.memory = 2 ** 30)],
    ['argon', 'memory 4 GiB + 1 KiB', (k) => (k.memory = 4 * 1048576 + 1)],
    ['argon', 'memory 2^32 - 1', (k) => (k.memory = 2 ** 32 - 1)],
    ['argon', 'memory below 8 per lane', (k) => ((k.cpus = 4), (k.memory = 31))],
    ['argon', 'memory 0', (k) => (k.memory = 0)],
    ['argon', 'memory as a string', (k) => (k.memory = '32768')],
    ['argon', 'memory fractional', (k) => (k.memory = 32768.5)],
    ['argon', 'zero iterations', (k) => (k.time = 0)],
    ['argon', 'iterations 2^31', (k) => (k.time = 2 ** 31)],
    ['argon', 'no time field', (k) => delete k.time],
    ['argon', 'parallelism 0', (k) => (k.cpus = 0)],
    ['argon', 'parallelism 17', (k) => (k.cpus = 17)],
    ['argon', 'parallelism 2^24', (k) => (k.cpus = 2 ** 24)],
    ['argon', '16-byte salt', (k) => (k.salt = salt16)],
    ['argon', '33-byte salt', (k) => (k.salt = randomBytes(33).toString('base64'))],
    ['argon', 'salt not base64', (k) => (k.salt = '!'.repeat(44))],
    ['argon', 'salt missing', (k) => delete k.salt],
    ['argon', 'argon2d', (k) => (k.type = 'argon2d')],
    ['argon', 'scrypt', (k) => (k.type = 'scrypt')],
    ['argon', 'type missing', (k) => delete k.type],
    ['pbkdf', 'pbkdf2 zero iterations', (k) => (k.iterations = 0)],
    ['pbkdf', 'pbkdf2 iterations above 20M', (k) => (k.iterations = 20_000_001)],
    ['pbkdf', 'pbkdf2 hash md5', (k) => (k.hash = 'md5')],
    ['pbkdf', 'pbkdf2 16-byte salt', (k) => (k.salt = salt16)],
  ]
  for (const [base, name, mutate] of cases) {
    const d = hostile(base === 'argon' ? argonDisk : pbkdfDisk, (j) => mutate(j.keyslots['0'].kdf))
    const started = Date.now()
    assert.equal(await attempt(d), 'ERR_LUKS2_KDF_PARAMS', name)
    // generous: a 4 GiB argon2 pass would take tens of seconds here, and allocate 4 GiB
    assert.ok(Date.now() - started < 10_000, `${name}: refused at once`)
    assert.ok(describeDisk(d).keyslots.length === 1, `${name}: describe still reads the header`)
  }
  const grown = process.resourceUsage().maxRSS - baseline
  assert.ok(grown < 512 * 1024, `no KDF memory was allocated (peak RSS grew ${grown} KiB)`)
  // describe shows what the header claims, and never a salt
  const d = hostile(argonDisk, (j) => (j.keyslots['0'].kdf.memory = 2 ** 30))
  assert.deepEqual(describeDisk(d).keyslots[0], {
    id: '0',
    type: 'luks2',
    kdf: 'argon2id',
    iterations: 4,
    memoryKiB: 2 ** 30,
    parallelism: 1,
  })
})

/** `count` keyslots: the real keyslot 0 plus decoys (same JSON, own area) mutated by `decoy`. */
function manyKeyslots(count: number, decoy: (k: Loose, id: number) => void): string {
  return hostile(pbkdfDisk, (j) => {
    const real = j.keyslots['0']
    for (let i = 1; i < count; i++) {
      const k = structuredClone(real) as Loose
      k.area.offset = String(32768 + i * 258048)
      decoy(k, i)
      j.keyslots[String(i)] = k
    }
    j.digests['0'].keyslots = Object.keys(j.keyslots)
  })
}

test('32 keyslots x 20M PBKDF2 iterations: ERR_LUKS2_KDF_BUDGET at once, not minutes of CPU', async () => {
  const d = manyKeyslots(32, (k) => (k.kdf.iterations = 20_000_000))
  assert.equal(Object.keys(readJson(d).keyslots as Loose).length, 32)
  const started = process.cpuUsage()
  assert.equal(await attempt(d), 'ERR_LUKS2_KDF_BUDGET')
  const cpu = process.cpuUsage(started)
  // the work refused: 32 x 20M x 2 blocks of HMAC-SHA256, about 150 s of CPU here
  assert.ok(cpu.user + cpu.system < 10e6, 'refused before doing the work')
  await assert.rejects(decryptDisk(d, t.path('x'), { unlock: { passphrase: pass } }), (e: Error) =>
    /--key-slot/.test(e.message),
  )
  // the passphrase's own keyslot named: only its work counts
  assert.equal(await attempt(d, '0'), 'ok')
})

test('the bound counts every keyslot tried: few costly ones over it, priority "ignore" ones skipped', async () => {
  // one argon2 keyslot whose work alone is over the bound (4 GiB x 1000 passes)
  const one = hostile(argonDisk, (j) =>
    Object.assign(j.keyslots['0'].kdf, { memory: 4 * 1048576, time: 1000, cpus: 4 }),
  )
  assert.equal(await attempt(one), 'ERR_LUKS2_KDF_BUDGET')
  assert.equal(await attempt(one, '0'), 'ERR_LUKS2_KDF_BUDGET')
  // five argon2 decoys of 1 GiB x 16 passes (each ~17 s: a fast host's default): 85 s in total
  const five = manyKeyslots(6, (k) => {
    k.kdf = { type: 'argon2id', time: 16, memory: 1048576, cpus: 4, salt: k.kdf.salt }
  })
  assert.equal(await attempt(five), 'ERR_LUKS2_KDF_BUDGET')
  // the same decoys at priority 0 (cryptsetup config --priority ignore) are not tried
  const ignored = hostile(five, (j) => {
    for (const id of ['1', '2', '3', '4', '5']) j.keyslots[id].priority = 0
  })
  assert.equal(await attempt(ignored), 'ok')
  assert.equal(
    await attempt(hostile(five, (j) => (j.keyslots['1'].priority = 7))),
    'ERR_LUKS2_KEYSLOT',
  )
  // a keyslot preferred (priority 2) is tried first, and a costly one is then never reached
  const preferred = hostile(five, (j) => {
    j.keyslots['0'].priority = 2
    for (const id of ['1', '2', '3', '4', '5']) j.keyslots[id].priority = 0
  })
  assert.equal(await attempt(preferred), 'ok')
  // digests count too: 32 cheap keyslots, each checked against a 10M-iteration SHA-512 digest
  const digests = manyKeyslots(32, () => undefined)
  const heavy = hostile(digests, (j) =>
    Object.assign(j.digests['0'], {
      hash: 'sha512',
      iterations: 10_000_000,
      digest: randomBytes(64).toString('base64'),
    }),
  )
  assert.equal(await attempt(heavy), 'ERR_LUKS2_KDF_BUDGET')
  // an unknown KDF on one keyslot refuses the attempt; naming the good keyslot still opens
  const unknown = manyKeyslots(2, (k) => (k.kdf.type = 'balloon'))
  assert.equal(await attempt(unknown), 'ERR_LUKS2_KDF_PARAMS')
  assert.equal(await attempt(unknown, '0'), 'ok')
  assert.equal(await attempt(unknown, '9'), 'ERR_DISK_NO_KEYSLOT')
  assert.equal(KDF_ATTEMPT_BUDGET_NS, 60e9)
})

test('new keyslot parameters are checked as cryptsetup checks them (ERR_DISK_OPTIONS)', async () => {
  const salt = new Uint8Array(32)
  for (const o of [
    { memory: 16 },
    { memory: 4 * 1048576 + 1 },
    { iterations: 3 },
    { parallelism: 0 },
    { parallelism: 5 },
    { memory: 1.5 },
    { type: 'pbkdf2', iterations: 999 },
    { type: 'pbkdf2', memory: 65536 },
    { type: 'pbkdf2', parallelism: 2 },
    { type: 'scrypt' },
    { memory: 4 * 1048576, iterations: 100 }, // ~7 min per attempt: over the bound
  ] as const)
    assert.throws(
      () => newKeyslotKdf(o as never, salt),
      { code: 'ERR_DISK_OPTIONS' },
      JSON.stringify(o),
    )
  await assert.rejects(
    encryptDisk(raw, t.path('never.luks'), {
      kek,
      providerId: 'p',
      kekId: 'k',
      recoveryPassphrase: pass,
      recoveryKdf: { iterations: 2 },
    }),
    { code: 'ERR_DISK_OPTIONS' },
  )
  assert.ok(!existsSync(t.path('never.luks')))
  assert.deepEqual(newKeyslotKdf({ type: 'pbkdf2' }, salt), {
    type: 'pbkdf2',
    hash: 'sha256',
    iterations: 600_000,
    salt,
  })
})

test('argon2 runs off the event loop: timers keep firing while a keyslot is derived', async () => {
  let ticks = 0
  let running = true
  const spin = (): void => {
    ticks++
    if (running) setImmediate(spin)
  }
  setImmediate(spin)
  const key = await argon2Derive(
    'argon2id',
    pass,
    new Uint8Array(32),
    { memory: 131072, passes: 4, parallelism: 1 }, // ~0.5 s of CPU
    64,
  )
  running = false
  assert.equal(key.length, 64)
  assert.ok(ticks > 10, `event loop turned ${ticks} times during the derivation`)
  await assert.rejects(
    argon2Derive(
      'argon2id',
      pass,
      new Uint8Array(32),
      { memory: 2 ** 30, passes: 1, parallelism: 1 },
      64,
    ),
    { code: 'ERR_KDF_PARAMS' },
  )
})

test('describe reports a pending operation for a dangling journal symlink too (lstat, not stat)', () => {
  const d = t.path('dangling.luks')
  copyFileSync(pbkdfDisk, d)
  assert.equal(describeDisk(d).pendingOperation, false)
  symlinkSync(t.path('nowhere'), journalPath(d))
  assert.equal(describeDisk(d).pendingOperation, true)
})
