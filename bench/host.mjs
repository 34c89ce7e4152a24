#!/usr/bin/env node
// npm run bench -- host: a host boot that restores 1,000 and 10,000 persisted keys from swtpm
// (time from start of boot to key cache restored, TPM commands per boot), against fetching the
// same 10,000 keys by KMIP Get from pykmip-server over one connection. Last line: one JSON object.
// Options: --pykmip-keys N (default 10000; fewer for a quick look, the ratio then compares
// per-key rates scaled to 10,000).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Secret, createLogger } from '@ward/core'
import { HostAgent, initHost, parseTpmSpec } from '@ward/host'
import { KmipClient } from '@ward/kmip'
import { startPykmipServer } from '@ward/kmip/testing'
import { startSwtpm } from '@ward/tpm2/testing'

const { values } = parseArgs({ options: { 'pykmip-keys': { type: 'string' } } })
const PYKMIP_KEYS = Number(values['pykmip-keys'] ?? 10000)
const log = (line) => process.stderr.write(`${line}\n`)

const work = mkdtempSync(join(tmpdir(), 'ward-bench-host-'))
const logger = createLogger('host', { level: 'silent' })
const boot = (dataDir) =>
  HostAgent.boot({ dataDir, simulateFirmware: { secureBoot: true }, logger })
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
let tpm
let pykmip
try {
  tpm = await startSwtpm({ dir: join(work, 'tpm'), allowUnmanufactured: true })
  const D = join(work, 'host')
  initHost(D, parseTpmSpec(tpm.spec))
  let agent = await boot(D)
  await agent.handle('settings.encryption.set', { mode: 'TPM', requireSecureBoot: true })
  await agent.handle('security.keypersistence.enable', {})
  const addKeys = (from, to) =>
    agent.cache.addMany(
      Array.from({ length: to - from }, (_, i) => ({
        providerId: 'kmip-bench',
        kekId: `kek-${from + i}`,
        key: new Secret(new Uint8Array(randomBytes(32))),
      })),
    )
  const measure = async (n) => {
    const runs = []
    for (let i = 0; i < 5; i++) {
      await agent.close()
      agent = await boot(D)
      if (agent.bootStats.restoredKeys !== n)
        throw new Error(`restored ${agent.bootStats.restoredKeys} keys, expected ${n}`)
      runs.push(agent.bootStats)
    }
    const ms = median(runs.map((r) => r.restoreMs))
    const cmds = [...new Set(runs.map((r) => r.tpmCommands))]
    log(
      `boot restoring ${n} keys: median ${ms.toFixed(1)} ms over ${runs.length} boots, TPM commands per boot ${cmds.join('/')}`,
    )
    return { ms, cmds }
  }
  addKeys(0, 1000)
  const r1 = await measure(1000)
  addKeys(1000, 10000)
  const r10 = await measure(10000)
  await agent.close()
  if (r1.cmds.length !== 1 || r10.cmds.length !== 1 || r1.cmds[0] !== r10.cmds[0])
    log(`WARNING: TPM commands per boot differ: ${r1.cmds} vs ${r10.cmds}`)

  log(`starting pykmip-server and creating ${PYKMIP_KEYS} AES-256 keys (PyKMIP is slow: minutes)…`)
  pykmip = await startPykmipServer()
  const tls = {
    caPem: pykmip.caPem,
    certPem: pykmip.clientCertPem,
    keyPem: pykmip.clientKeyPem,
    servername: 'localhost',
  }
  const creator = new KmipClient({
    servers: [{ host: pykmip.host, port: pykmip.port }],
    tls,
    poolSize: 4,
    timeoutMs: 60_000,
  })
  const uids = []
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < PYKMIP_KEYS) {
        next++
        uids.push(await creator.create({ name: `bench-${next}` }))
        if (uids.length % 500 === 0)
          log(
            `  created ${uids.length}/${PYKMIP_KEYS} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
          )
      }
    }),
  )
  creator.close()
  const fetcher = new KmipClient({
    servers: [{ host: pykmip.host, port: pykmip.port }],
    tls,
    poolSize: 1,
    timeoutMs: 60_000,
  })
  await fetcher.get(uids[0]) // connection + TLS handshake outside the timing, like the host's already-open boot path
  const f0 = performance.now()
  for (const [i, uid] of uids.entries()) {
    const o = await fetcher.get(uid)
    if (o.keyMaterial?.length !== 32) throw new Error('PyKMIP returned no 32-byte key')
    o.keyMaterial.fill(0)
    if ((i + 1) % 2000 === 0)
      log(`  fetched ${i + 1}/${uids.length} (${((performance.now() - f0) / 1000).toFixed(1)} s)`)
  }
  let fetchMs = performance.now() - f0
  fetcher.close()
  if (PYKMIP_KEYS !== 10000) {
    log(`scaling the PyKMIP time from ${PYKMIP_KEYS} to 10,000 keys`)
    fetchMs = (fetchMs * 10000) / PYKMIP_KEYS
  }
  log(`PyKMIP: ${uids.length} Gets on one connection in ${fetchMs.toFixed(0)} ms`)
  const round = (x) => Math.round(x * 10) / 10
  console.log(
    JSON.stringify({
      bench: 'host',
      restore_ms_1000: round(r1.ms),
      restore_ms_10000: round(r10.ms),
      tpm_commands_per_boot: r10.cmds[0],
      pykmip_fetch_ms_10000: Math.round(fetchMs),
      ratio_vs_pykmip: round(fetchMs / r10.ms),
    }),
  )
} finally {
  await pykmip?.stop()
  await tpm?.stop()
  rmSync(work, { recursive: true, force: true })
}
