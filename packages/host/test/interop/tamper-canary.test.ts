import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { readFileSync, readdirSync, writeFileSync, statSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
import { tempDir, ward, serve, secretFile, run } from '../helpers/harness.js'
import { startSwtpm } from '@ward/tpm2/testing'

const DECRYPT_FAILED = 'Failed to decrypt system configuration.'

async function json(args: string[]): Promise<unknown> {
  const r = await ward([...args, '--json'])
  assert.equal(r.code, 0, `ward ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const f of readdirSync(dir)) {
    if (f === 'agent.sock') continue
    m.set(
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    )
  }
  return m
}

for (const mode of ['NONE', 'TPM'] as const)
  for (const file of ['config.archive', 'encryption.info'] as const)
    test(`mode ${mode}: a tampered ${file} is refused and nothing is overwritten`, async (t) => {
      const { dir, cleanup } = tempDir()
      t.after(cleanup)
      const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
      t.after(() => tpm.stop())
      const D = join(dir, 'host')
      assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
      const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
      let agent = await serve(on)
      assert.equal(agent.exitCode, undefined, agent.output())
      if (mode === 'TPM')
        await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
      assert.equal(await agent.stop(), 0)
      const path = join(D, file)
      const bytes = readFileSync(path)
      if (file === 'config.archive') bytes[bytes.length - 20]! ^= 0x01
      else {
        // flip a policy flag in the (MAC-protected) body, keeping valid JSON
        const text = bytes
          .toString('utf8')
          .replace('"requireExecInstalledOnly":false', '"requireExecInstalledOnly":true')
        assert.notEqual(text, bytes.toString('utf8'))
        bytes.set(Buffer.from(text))
      }
      writeFileSync(path, bytes)
      const mtime = statSync(path).mtimeMs
      const before = snapshot(D)
      agent = await serve(on)
      assert.notEqual(agent.exitCode, undefined)
      assert.notEqual(agent.exitCode, 0)
      assert.ok(agent.output().includes(DECRYPT_FAILED), agent.output())
      const after = snapshot(D)
      // only the measurement logs of the new boot are rewritten
      for (const f of ['config.archive', 'encryption.info', 'host.json'])
        assert.equal(after.get(f), before.get(f), `${f} changed`)
      assert.equal(statSync(path).mtimeMs, mtime)
    })

test('canary: a KEK added through every flow never appears in logs or in any file but the designed ones', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const canary = randomBytes(32)
  const forms = [
    canary.toString('hex'),
    canary.toString('base64'),
    canary.toString('base64url'),
    canary.toString('latin1'),
  ]
  const on = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
  let agent = await serve(on)
  const outputs: string[] = []
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
  const kek = secretFile(join(dir, 'canary.kek'), canary)
  for (const args of [
    [
      'crypto-util',
      'keys',
      'add',
      '--data-dir',
      D,
      '--provider-id',
      'p',
      '--kek-id',
      'canary',
      '--kek-file',
      kek,
    ],
    [
      'crypto-util',
      'keys',
      'add',
      '--data-dir',
      D,
      '--provider-id',
      'p',
      '--kek-id',
      'canary',
      '--kek-file',
      kek,
      '--json',
    ],
    ['crypto-util', 'keys', 'list', '--data-dir', D],
    ['crypto-util', 'keys', 'iskeyincache', 'p', 'canary', '--data-dir', D],
    ['host', 'settings', 'encryption', 'recovery', 'rotate', '--data-dir', D],
  ]) {
    const r = await ward(args)
    assert.equal(r.code, 0, r.stderr)
    outputs.push(r.stdout, r.stderr)
  }
  assert.equal(await agent.stop(), 0)
  outputs.push(agent.output())
  agent = await serve(on)
  assert.equal(agent.exitCode, undefined, agent.output())
  outputs.push(
    (await ward(['crypto-util', 'keys', 'remove', 'p', 'canary', '--data-dir', D])).stderr,
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
  outputs.push(agent.output())
  const all = outputs.join('\n')
  assert.match(all, /"kekId":"canary"/) // the flows did run and log ids
  for (const f of forms) assert.ok(!all.includes(f), 'canary in CLI output or agent log')
  for (const f of readdirSync(D)) {
    const bytes = readFileSync(join(D, f))
    assert.ok(!bytes.includes(canary), `canary bytes in ${f}`)
    for (const s of forms.slice(0, 3))
      assert.ok(!bytes.includes(Buffer.from(s)), `canary text in ${f}`)
  }
})

test("the sealing policy in encryption.info equals tpm2_createpolicy + tpm2_policynv over the booted PCRs and the counter; tpm2_eventlog replays Ward's logs to them", async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
  t.after(() => tpm.stop())
  const D = join(dir, 'host')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
  const agent = await serve(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
  assert.equal(agent.exitCode, undefined, agent.output())
  await json([
    'host',
    'settings',
    'encryption',
    'set',
    '--data-dir',
    D,
    '--mode=TPM',
    '--require-secure-boot=T',
    '--require-exec-installed-only=T',
  ])
  assert.equal(await agent.stop(), 0) // PCRs keep this boot's values until the next serve
  const info = JSON.parse(readFileSync(join(D, 'encryption.info'), 'utf8').split('\n')[0]!) as {
    generation: string
    tpm: { pcrs: number[]; pcrPolicyDigest: string; policyDigest: string; nvIndex: number }
  }
  assert.deepEqual(info.tpm.pcrs, [7, 12, 13])
  assert.equal(info.tpm.nvIndex, 0x01805741)
  const env = { TPM2TOOLS_TCTI: tpm.tcti }
  const pcrFile = join(dir, 'pcrs.bin')
  const rd = await run('tpm2_pcrread', ['-o', pcrFile, 'sha256:7,12,13'], env)
  assert.equal(rd.code, 0, rd.stderr)
  const pol = join(dir, 'pol')
  const cp = await run(
    'tpm2_createpolicy',
    ['--policy-pcr', '-l', 'sha256:7,12,13', '-f', pcrFile, '-L', pol],
    env,
  )
  assert.equal(cp.code, 0, cp.stderr)
  assert.equal(info.tpm.pcrPolicyDigest, readFileSync(pol).toString('hex'))
  // the whole policy: PolicyPCR, then PolicyNV(configuration counter == generation)
  const session = join(dir, 'trial.ctx')
  const operand = join(dir, 'generation.bin')
  const g = Buffer.alloc(8)
  g.writeBigUInt64BE(BigInt(info.generation))
  writeFileSync(operand, g)
  const full = join(dir, 'full.pol')
  for (const [cmd, args] of [
    ['tpm2_startauthsession', ['-S', session]],
    ['tpm2_policypcr', ['-S', session, '-l', 'sha256:7,12,13', '-f', pcrFile]],
    ['tpm2_policynv', ['-S', session, '-C', 'o', '-i', operand, '-L', full, '0x1805741', 'eq']],
    ['tpm2_flushcontext', [session]],
  ] as const) {
    const r = await run(cmd, args, env)
    assert.equal(r.code, 0, `${cmd}: ${r.stderr}`)
  }
  assert.equal(info.tpm.policyDigest, readFileSync(full).toString('hex'))
  // and the counter holds the generation of the current configuration
  const counter = join(dir, 'counter.bin')
  const nv = await run('tpm2_nvread', ['-C', 'o', '-o', counter, '0x1805741'], env)
  assert.equal(nv.code, 0, nv.stderr)
  assert.deepEqual(readFileSync(counter), g)
  const raw = readFileSync(pcrFile)
  for (const [i, [log, pcr]] of (
    [
      ['firmware-eventlog.bin', 7],
      ['ward-eventlog.bin', 12],
      ['ward-eventlog.bin', 13],
    ] as const
  ).entries()) {
    const ev = await run('tpm2_eventlog', [join(D, log)])
    assert.equal(ev.code, 0, ev.stderr)
    const m = new RegExp(`sha256:[\\s\\S]*?\\b${pcr} *: *0x([0-9A-Fa-f]{64})`).exec(ev.stdout)
    assert.ok(m, ev.stdout)
    assert.equal(
      m[1]!.toLowerCase(),
      raw.subarray(i * 32, i * 32 + 32).toString('hex'),
      `PCR ${pcr}`,
    )
  }
})
