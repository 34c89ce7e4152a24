import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as connectTcp, type AddressInfo } from 'node:net'
import { connect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '@ward/core'
import type { HostAgent } from '../../src/agent/agent.js'
import { listenRemote } from '../../src/remote/listener.js'
import type { RemoteCredentials } from '../../src/remote/join-state.js'

/** A CA, a host certificate and a center client certificate made by OpenSSL (independent of the center's code). */
function certs(d: string): {
  host: RemoteCredentials
  center: { key: string; cert: string; ca: string }
} {
  const sh = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: d, stdio: 'ignore' })
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  sh([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/O=Ward/CN=test CA',
    '-days',
    '2',
  ])
  const leaf = (name: string, subj: string, ext: string): void => {
    writeFileSync(join(d, `${name}.ext`), ext)
    sh(['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj])
    sh([
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ])
  }
  leaf(
    'host',
    '/O=Ward/OU=ward-host/CN=h1',
    'extendedKeyUsage=clientAuth,serverAuth\nsubjectAltName=IP:127.0.0.1\n',
  )
  leaf('center', '/O=Ward/OU=ward-center/CN=Ward center', 'extendedKeyUsage=clientAuth\n')
  const r = (f: string): string => readFileSync(join(d, f), 'utf8')
  return {
    host: {
      state: {
        version: 1,
        center: 'https://c',
        hostId: 'h1',
        listen: '127.0.0.1:0',
        address: '127.0.0.1:0',
      },
      keyPem: r('host.key'),
      certPem: r('host.crt'),
      caPem: r('ca.crt'),
    },
    center: { key: r('center.key'), cert: r('center.crt'), ca: r('ca.crt') },
  }
}

test('the listener: remote rows dispatched, others refused before the agent sees them; idle and handshake timeouts close', async () => {
  const d = mkdtempSync(join(tmpdir(), 'ward-remote-listener-'))
  const c = certs(d)
  const seen: string[] = []
  // only handleRequest is used by the connection code: a stand-in agent
  const agent = {
    handleRequest: (op: string) => {
      seen.push(op)
      return Promise.resolve({ op })
    },
  } as unknown as HostAgent
  const server = await listenRemote(agent, c.host, createLogger('test', { level: 'silent' }), {
    idleMs: 400,
    handshakeMs: 400,
  })
  const port = (server.address() as AddressInfo).port
  try {
    const s = connect({
      host: '127.0.0.1',
      port,
      ...c.center,
      checkServerIdentity: () => undefined,
    })
    s.setEncoding('utf8')
    const lines: string[] = []
    let buf = ''
    s.on('data', (x: string) => {
      buf += x
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl))
        buf = buf.slice(nl + 1)
      }
    })
    const closed = new Promise<number>((r) => s.on('close', () => r(Date.now())))
    await new Promise<void>((r) => s.once('secureConnect', () => r()))
    s.write(`${JSON.stringify({ id: 1, op: 'keys.list', params: {} })}\n`)
    s.write(`${JSON.stringify({ id: 2, op: 'settings.encryption.recovery.rotate', params: {} })}\n`)
    const lastWrite = Date.now()
    const at = await closed
    const answers = lines.map(
      (l) => JSON.parse(l) as { id: number; ok: boolean; error?: { code: string } },
    )
    assert.deepEqual(answers[0], { id: 1, ok: true, result: { op: 'keys.list' } })
    assert.equal(answers[1]?.id, 2)
    assert.equal(answers[1]?.ok, false)
    assert.equal(answers[1]?.error?.code, 'ERR_HOST_REMOTE_DENIED')
    assert.equal(answers.length, 2)
    assert.match(lines[1] ?? '', /settings\.encryption\.recovery\.rotate/)
    assert.deepEqual(seen, ['keys.list'], 'the refused operation never reached the agent')
    assert.ok(at - lastWrite >= 300, 'closed by the idle timeout, not before')
    // a TCP connection that never starts TLS is closed after the handshake timeout
    const t0 = Date.now()
    await new Promise<void>((resolve) => {
      const raw = connectTcp(port, '127.0.0.1')
      raw.on('error', () => undefined)
      raw.on('close', () => resolve())
    })
    assert.ok(Date.now() - t0 >= 300)
  } finally {
    server.close()
    rmSync(d, { recursive: true, force: true })
  }
})
