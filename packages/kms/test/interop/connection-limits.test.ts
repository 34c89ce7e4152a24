/**
 * Issue 10, finding 2: connections that never finish the TLS handshake, or never finish a
 * frame, are closed; connections are capped per source address and in total, with one
 * (rate-limited) log line when a cap is hit; a real mutual-TLS client is served throughout.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Operation } from '@ward/kmip'
import { initKms, startKmsServer } from '../../src/index.js'
import { KmipTestClient } from '../../src/testing.js'
import { startFixture, createAes } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { repoRoot } from './pg.js'

const create = createAes()

/** A TCP connection from `from` that sends nothing; `closed` resolves when the server closes it. */
interface Silent {
  readonly sock: Socket
  readonly closed: Promise<number>
}
function silent(port: number, from: string): Silent {
  const t0 = Date.now()
  const sock = connect({ host: '127.0.0.1', port, localAddress: from })
  sock.on('error', () => {})
  const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now() - t0)))
  return { sock, closed }
}

/** Resolves with the time until `p` settles, or rejects after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(t)
  }
}

const lines = (f: Fixture, msg: RegExp): Record<string, unknown>[] =>
  f.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => msg.test(String(l['msg'])))

describe('connection caps and handshake timeout', () => {
  let f: Fixture
  before(async () => {
    f = await startFixture({
      handshakeTimeoutMs: 3000,
      maxConnectionsPerAddress: 8,
      maxConnections: 20,
      // Much longer than the test: only the handshake and frame timers may close anything.
      idleTimeoutMs: 60_000,
      readTimeoutMs: 1000,
    })
  })
  after(async () => {
    await f.close()
  })

  test('silent connections over the per-address cap are refused, the rest closed at the handshake timeout; a real client is served', async () => {
    await f.tls('good')
    const attackers = Array.from({ length: 30 }, () => silent(f.server.port, '127.0.0.2'))
    // 22 of them are over the cap of 8: closed at once.
    const early = await Promise.all(
      attackers.map((a) =>
        Promise.race([a.closed, new Promise<number>((r) => setTimeout(() => r(-1), 800))]),
      ),
    )
    assert.ok(
      early.filter((t) => t >= 0).length >= 22,
      `refused at once: ${early.filter((t) => t >= 0).length}`,
    )
    assert.ok(f.server.stats().refused.perAddress >= 22)
    // The cap's log line appears, once per 10 s (the other refusals are counted, not logged).
    const capLines = lines(f, /connection refused: 8 connections are open from 127\.0\.0\.2/)
    assert.equal(capLines.length, 1)
    assert.equal(capLines[0]!['remoteAddress'], '127.0.0.2')

    // The 8 silent ones hold their slots now; a real mutual-TLS client from another address is
    // served while they do.
    assert.equal(f.server.stats().connections, 8)
    const good = await f.client('good')
    const t0 = Date.now()
    await good.call(Operation.Create, create)
    assert.ok(Date.now() - t0 < 2000, 'served within 2 s')

    // Every silent connection is closed by the server: 3 s handshake timeout, generous bound.
    const times = await within(
      Promise.all(attackers.map((a) => a.closed)),
      10_000,
      'silent connections closed',
    )
    assert.ok(Math.max(...times) < 10_000)
    assert.ok(f.server.stats().handshakeFailures >= 8)
    assert.ok(lines(f, /TLS handshake refused; connection closed/).length >= 1)
    // Once they are gone, the same address may connect again.
    const again = silent(f.server.port, '127.0.0.2')
    const quick = await Promise.race([
      again.closed,
      new Promise<number>((r) => setTimeout(() => r(-1), 500)),
    ])
    assert.equal(quick, -1, 'not refused any more')
    again.sock.destroy()
    await good.call(Operation.Create, create)
  })

  test('the total cap refuses connections from any address, with its own log line', async () => {
    await new Promise((r) => setTimeout(r, 200))
    const base = f.server.stats().connections
    // 20 in total: fill it from three addresses (8 + 8 + the rest), then one more from a fourth.
    const fill = [
      ...Array.from({ length: 8 }, () => silent(f.server.port, '127.0.0.3')),
      ...Array.from({ length: 8 }, () => silent(f.server.port, '127.0.0.4')),
      ...Array.from({ length: 20 - 16 - base }, () => silent(f.server.port, '127.0.0.5')),
    ]
    for (let i = 0; i < 100 && f.server.stats().connections < 20; i++)
      await new Promise((r) => setTimeout(r, 10))
    assert.equal(f.server.stats().connections, 20)
    const over = silent(f.server.port, '127.0.0.6')
    await within(over.closed, 2000, 'connection over the total cap refused')
    assert.ok(f.server.stats().refused.total >= 1)
    assert.equal(
      lines(f, /connection refused: 20 connections are open \(ward kms serve --max-connections\)/)
        .length,
      1,
    )
    await within(Promise.all(fill.map((a) => a.closed)), 10_000, 'filling connections closed')
  })

  test('a short pre-frame header and a frame that trickles in are closed at the frame timeout, not the idle timer', async () => {
    for (const bytes of [
      // 3 bytes of the 8-byte header, then nothing
      [Buffer.from([0x42, 0x00, 0x78])],
      // a whole header announcing 1,000 bytes, then one byte at a time
      [
        Buffer.from([0x42, 0x00, 0x78, 0x01, 0, 0, 0x03, 0xe8]),
        ...Array.from({ length: 40 }, () => Buffer.alloc(1)),
      ],
    ]) {
      const c = await KmipTestClient.connect(f.server.port, await f.tls('slow'))
      const t0 = Date.now()
      const closed = c.sendRaw(bytes[0]!).then(
        () => 'answered',
        (e: Error) => e.message,
      )
      let done = false
      void closed.then(() => (done = true))
      const drip = (async () => {
        for (const b of bytes.slice(1)) {
          await new Promise((r) => setTimeout(r, 100))
          if (done) break
          c.sendRaw(b).catch(() => {})
        }
      })()
      // closed by the server: a FIN, or an RST when a dripped byte crossed the close
      assert.match(
        await within(closed, 8000, 'slow frame closed'),
        /^(connection closed|read ECONNRESET|write EPIPE)$/,
      )
      assert.ok(Date.now() - t0 < 8000)
      // A partial header gets the whole read timeout (1,000 ms here), not a second less.
      if (bytes.length === 1) assert.ok(Date.now() - t0 >= 900, `closed at ${Date.now() - t0} ms`)
      c.close()
      await drip
    }
    assert.ok(f.server.stats().slowClosed >= 2)
    const good = await f.client('good2')
    await good.call(Operation.Create, create)
  })
})

describe('ward kms serve limit flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-flags-'))
  before(async () => {
    await initKms(dir)
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('the CLI flags reach the server; bad values are refused before it starts', async () => {
    const ward = (args: string[]) =>
      spawn(process.execPath, [join(repoRoot, 'packages/cli/bin/ward.js'), ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    const exit = (args: string[]): Promise<{ code: number | null; stderr: string }> => {
      const c = ward(args)
      let stderr = ''
      c.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
      const t = setTimeout(() => c.kill('SIGKILL'), 20_000)
      return new Promise((r) =>
        c.once('close', (code) => {
          clearTimeout(t)
          r({ code, stderr })
        }),
      )
    }
    const base = ['kms', 'serve', '--data-dir', dir, '--listen', '127.0.0.1:0']
    const bad = await exit([...base, '--max-connections', 'many'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /ERR_CLI_USAGE/)
    const small = await exit([...base, '--max-buffered-mib', '4'])
    assert.equal(small.code, 2)
    assert.match(small.stderr, /at least 22 \[ERR_KMS_BAD_LIMIT\]/)
    await assert.rejects(
      startKmsServer({ dataDir: dir, listen: '127.0.0.1:0', maxConnectionsPerAddress: 0 }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_KMS_BAD_LIMIT',
    )

    const child = ward([
      ...base,
      '--max-connections-per-address',
      '2',
      '--handshake-timeout-ms',
      '500',
      '--max-buffered-mib',
      '32',
      '--frame-timeout-ms',
      '500',
      '--max-streams-per-client',
      '8',
    ])
    try {
      let port: number | undefined
      for (let i = 0; i < 300 && port === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50))
        if (!existsSync(join(dir, 'server.json'))) continue
        try {
          const rt = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as {
            pid: number
            port: number
          }
          if (rt.pid === child.pid) port = rt.port
        } catch {
          /* being written */
        }
      }
      assert.ok(port !== undefined, 'ward kms serve started')
      const conns = Array.from({ length: 3 }, () => silent(port, '127.0.0.7'))
      const times = await within(Promise.all(conns.map((c) => c.closed)), 8000, 'closed')
      times.sort((a, b) => a - b)
      // One refused at once (cap 2), two closed at the 500 ms handshake timeout.
      assert.ok(times[0]! < 400, `refused at ${times[0]} ms`)
      assert.ok(times[1]! >= 400, `closed at ${times[1]} ms, not before the handshake timeout`)
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  })
})
