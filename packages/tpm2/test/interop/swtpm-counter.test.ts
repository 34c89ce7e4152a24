// NV monotonic counters and PolicyNV on a real swtpm, cross-checked with tpm2-tools: the anchor
// the host agent binds its configuration to (anti-rollback).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { after, before, test } from 'node:test'
import {
  NV_COUNTER_ATTRIBUTES,
  TPMA_NV,
  TPM_NT,
  TPM_RC,
  listHandles,
  nvDefineCounter,
  nvIncrement,
  nvReadCounter,
  nvReadPublic,
  nvUndefine,
  policyGetDigest,
  policyNv,
  policyNvDigest,
  policyPcr,
  policyPcrDigest,
  readPcrs,
  seal,
  unseal,
  withSession,
} from '../../src/index.js'
import { openLab, type Lab } from './helpers.js'

let lab: Lab
before(async () => {
  lab = await openLab()
})
after(async () => {
  await lab?.close()
})

const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(v)
  return b
}

test('counter: define, uninitialised until the first increment, increments by one, tpm2_nvread agrees; a redefinition never goes back', async () => {
  const tpm = lab.sw.tpm
  const index = 0x01805700
  await nvDefineCounter(tpm, index)
  const pub = await nvReadPublic(tpm, index)
  assert.equal((pub.public.attributes >>> 4) & 0xf, TPM_NT.COUNTER)
  assert.equal(pub.public.dataSize, 8)
  assert.equal(pub.public.attributes & TPMA_NV.WRITTEN, 0)
  await assert.rejects(nvReadCounter(tpm, index), {
    code: 'ERR_TPM_RC',
    base: TPM_RC.NV_UNINITIALIZED,
  })
  await nvIncrement(tpm, index)
  const first = await nvReadCounter(tpm, index)
  await nvIncrement(tpm, index)
  assert.equal(await nvReadCounter(tpm, index), first + 1n)
  const written = await nvReadPublic(tpm, index)
  assert.equal(written.public.attributes, NV_COUNTER_ATTRIBUTES | TPMA_NV.WRITTEN)
  assert.notDeepEqual(Buffer.from(written.name), Buffer.from(pub.name), 'WRITTEN changes the Name')
  const out = await lab.file('counter.bin', '')
  await lab.tool('tpm2_nvread', ['-C', 'o', '-o', out, `0x${index.toString(16)}`])
  assert.deepEqual(await readFile(out), u64(first + 1n))
  const listed = await lab.tool('tpm2_nvreadpublic', [`0x${index.toString(16)}`])
  assert.match(listed, /ownerwrite\|nt=0x1\|ownerread\|no_da\|written/)
  // undefine + define again: the new counter starts at or above the largest value seen
  await nvUndefine(tpm, index)
  await nvDefineCounter(tpm, index)
  await nvIncrement(tpm, index)
  assert.ok((await nvReadCounter(tpm, index)) > first + 1n)
  await assert.rejects(nvDefineCounter(tpm, index, { attributes: TPMA_NV.OWNERWRITE }), {
    code: 'ERR_TPM_ARG',
  })
  await nvUndefine(tpm, index)
})

test("PolicyNV: Ward's offline digest equals a TPM trial session and tpm2_policynv's", async () => {
  const tpm = lab.sw.tpm
  const index = 0x01805701
  await nvDefineCounter(tpm, index)
  await nvIncrement(tpm, index)
  const value = await nvReadCounter(tpm, index)
  const { name } = await nvReadPublic(tpm, index)
  const cond = { index, name, operandB: u64(value) }
  const ward = Buffer.from(policyNvDigest(cond)).toString('hex')
  const trial = await withSession(tpm, { type: 'trial' }, async (s) => {
    await policyNv(tpm, s, cond)
    return policyGetDigest(tpm, s)
  })
  assert.equal(Buffer.from(trial).toString('hex'), ward)
  const operand = await lab.file('operand.bin', u64(value))
  const session = `${lab.dir}/trial.ctx`
  const pol = `${lab.dir}/nv.policy`
  await lab.tool('tpm2_startauthsession', ['-S', session])
  await lab.tool('tpm2_policynv', [
    '-S',
    session,
    '-C',
    'o',
    '-i',
    operand,
    '-L',
    pol,
    `0x${index.toString(16)}`,
    'eq',
  ])
  await lab.tool('tpm2_flushcontext', [session])
  assert.equal((await readFile(pol)).toString('hex'), ward)
  // after PolicyPCR: the chained digest
  const values = await readPcrs(tpm, [7])
  const chained = await withSession(tpm, { type: 'trial' }, async (s) => {
    await policyPcr(tpm, s, [7])
    await policyNv(tpm, s, cond)
    return policyGetDigest(tpm, s)
  })
  assert.deepEqual(
    Buffer.from(chained),
    Buffer.from(policyNvDigest(cond, policyPcrDigest([7], values))),
  )
  await nvUndefine(tpm, index)
})

test('a secret sealed to PCRs and "counter == v" unseals until the counter moves, then never again', async () => {
  const tpm = lab.sw.tpm
  const index = 0x01805702
  await nvDefineCounter(tpm, index)
  await nvIncrement(tpm, index)
  const v = await nvReadCounter(tpm, index)
  const { name } = await nvReadPublic(tpm, index)
  const secret = randomBytes(32)
  // sealed for the next value (what a configuration update does before it increments)
  const next = await seal(tpm, secret, {
    pcrs: [7],
    nv: { index, name, operandB: u64(v + 1n) },
  })
  const now = await seal(tpm, secret, { pcrs: [7], nv: { index, name, operandB: u64(v) } })
  assert.ok(now.parentName && now.parentName.length === 34)
  assert.deepEqual(Buffer.from(await unseal(tpm, now)), secret)
  await assert.rejects(unseal(tpm, next), { code: 'ERR_TPM_RC', base: TPM_RC.POLICY })
  await nvIncrement(tpm, index)
  assert.deepEqual(Buffer.from(await unseal(tpm, next)), secret)
  await assert.rejects(unseal(tpm, now), { code: 'ERR_TPM_RC', base: TPM_RC.POLICY })
  // the index removed: refused too (no index to compare with)
  await nvUndefine(tpm, index)
  await assert.rejects(unseal(tpm, next), { code: 'ERR_TPM_RC' })
  assert.deepEqual(await listHandles(tpm, 'transient'), [])
  assert.deepEqual(await listHandles(tpm, 'policy-session'), [])
})
