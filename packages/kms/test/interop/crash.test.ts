/**
 * Durability: spawn `ward kms serve`, burst Creates (and Gets) from several connections,
 * kill -9 mid-burst, restart; every object whose Create was answered is there with the same
 * key material, and every stored object opens (none half-written).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { addClient, initKms } from '../../src/index.js'
import { KmipTestClient } from '../../src/testing.js'
import { Tag, Operation, structure, text, requiredValue, find, findAll } from '@ward/kmip'
import { createAes } from '../helpers.js'
import type { ClientTls, TtlvItem } from '../../src/testing.js'
import { repoRoot } from './pg.js'

const create = createAes()
const keyOf = (g: TtlvItem | undefined): string =>
  Buffer.from(
    requiredValue(
      find(find(find(g, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyValue),
      Tag.KeyMaterial,
      'ByteString',
    ),
  ).toString('hex')

const dir = mkdtempSync(join(tmpdir(), 'ward-kms-crash-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const serveArgs = ['kms', 'serve', '--data-dir', join(dir, 'kms'), '--listen', '127.0.0.1:0']
const spawnWard = (args: string[], stderr: 'ignore' | 'pipe'): ChildProcess =>
  spawn(process.execPath, [join(repoRoot, 'packages/cli/bin/ward.js'), ...args], {
    stdio: ['ignore', 'ignore', stderr],
  })

async function serve(keepRuntime = false): Promise<{ child: ChildProcess; port: number }> {
  const runtime = join(dir, 'kms', 'server.json')
  if (!keepRuntime) rmSync(runtime, { force: true })
  const child = spawnWard(serveArgs, 'ignore')
  for (let i = 0; i < 200; i++) {
    if (existsSync(runtime)) {
      try {
        const r = JSON.parse(readFileSync(runtime, 'utf8')) as { pid: number; port: number }
        if (r.pid === child.pid) return { child, port: r.port }
      } catch {
        /* being replaced */
      }
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error('ward kms serve did not start')
}

function runWard(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnWard(args, 'pipe')
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
  // A server that should have refused to start would run forever: stop it, and fail.
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stderr })
    }),
  )
}

test('kill -9 during a burst of Creates loses nothing that was acknowledged', async () => {
  await initKms(join(dir, 'kms'))
  const f = await addClient(join(dir, 'kms'), 'burst', join(dir, 'c'))
  const tls: ClientTls = {
    ca: readFileSync(f.ca),
    cert: readFileSync(f.cert),
    key: readFileSync(f.key),
  }
  const { child, port } = await serve()
  after(() => child.kill('SIGKILL'))
  const acked = new Map<string, string | undefined>()
  let stop = false
  const worker = async (): Promise<void> => {
    const c = await KmipTestClient.connect(port, tls)
    try {
      while (!stop) {
        const id = requiredValue(
          await c.call(Operation.Create, create),
          Tag.UniqueIdentifier,
          'TextString',
        )
        acked.set(id, undefined)
        acked.set(
          id,
          keyOf(
            await c.call(
              Operation.Get,
              structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]),
            ),
          ),
        )
      }
    } catch {
      /* the kill ends the burst */
    } finally {
      c.close()
    }
  }
  const workers = Array.from({ length: 6 }, worker)
  // Kill mid-burst once it is well under way (not after a fixed 700 ms: on a loaded machine that
  // was only 12 Creates once).
  const deadline = Date.now() + 30_000
  while (acked.size <= 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  stop = true
  await Promise.all(workers)
  await exited
  assert.ok(acked.size > 20, `burst created ${acked.size} objects before the kill`)

  // The killed server's server.json is left behind: its pid is dead, so the restart goes ahead.
  const again = await serve(true)
  try {
    // A second server on the same SQLite data dir is refused while this one runs.
    const second = await runWard(serveArgs)
    assert.notEqual(second.code, 0)
    assert.match(second.stderr, /ERR_KMS_RUNNING|another ward kms serve/)
    const bad = await runWard([...serveArgs, '--busy-poll-us', 'fast'])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /--busy-poll-us must be a whole number/)
    const c = await KmipTestClient.connect(again.port, tls)
    for (const [id, key] of acked) {
      const got = keyOf(
        await c.call(
          Operation.Get,
          structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]),
        ),
      )
      if (key !== undefined) assert.equal(got, key, `object ${id} has the material the client saw`)
      assert.notEqual(got, '00'.repeat(32), 'real key material, not zeros')
    }
    // every stored object (including ones created but not yet acknowledged) opens
    const all = findAll(
      await c.call(Operation.Locate, structure(Tag.RequestPayload, [])),
      Tag.UniqueIdentifier,
    )
    assert.ok(all.length >= acked.size)
    for (const it of all) await c.call(Operation.Get, structure(Tag.RequestPayload, [it]))
    c.close()
  } finally {
    again.child.kill('SIGTERM')
    await new Promise((r) => again.child.once('exit', r))
  }
})
