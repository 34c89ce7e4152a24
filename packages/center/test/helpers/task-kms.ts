/*
 * Test code only: a real `ward kms` (its own process, data dir, CA and a client certificate for
 * the center) and a minimal but real standard key provider over it for the VM task tests until
 * the providers helper's runtime lands: newKek is KMIP Create AES-256, deliverKek is KMIP Get and
 * pushKey to the host over mutual TLS (the key bytes zeroed after), keyState is a Get.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Secret } from '@ward/core'
import { KmipClient } from '@ward/kmip'
import { pushKey } from '../../src/hosts/client.js'
import type { KeyProviderRuntime, KeyProviders, KeyState } from '../../src/providers/types.js'
import type { HostClients } from '../../src/tasks/hosts.js'
import { WARD_BIN, freePort, ward } from './hosts-harness.js'

export interface TestKms {
  readonly port: number
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string }
  output(): string
  stop(): Promise<void>
}

/** `ward kms init`, `client add center`, `serve` on a free port; resolves once it accepts. */
export async function startTestKms(dir: string): Promise<TestKms> {
  const D = join(dir, 'kms')
  const init = await ward(['kms', 'init', '--data-dir', D])
  if (init.code !== 0) throw new Error(`ward kms init: ${init.stderr}`)
  const out = join(dir, 'kms-client')
  const add = await ward(['kms', 'client', 'add', 'center', '--data-dir', D, '--out', out])
  if (add.code !== 0) throw new Error(`ward kms client add: ${add.stderr}`)
  const port = await freePort()
  const proc: ChildProcess = spawn(process.execPath, [
    WARD_BIN,
    'kms',
    'serve',
    '--data-dir',
    D,
    '--listen',
    `127.0.0.1:${port}`,
  ])
  let log = ''
  proc.stdout?.on('data', (d: Buffer) => (log += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exited = new Promise<void>((r) => proc.once('close', () => r()))
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy()
        r(true)
      })
      s.on('error', () => r(false))
    })
    if (up) break
    if (i > 300 || proc.exitCode !== null) throw new Error(`ward kms serve did not start:\n${log}`)
    await sleep(100)
  }
  return {
    port,
    tls: {
      ca: readFileSync(join(out, 'ca.pem'), 'utf8'),
      cert: readFileSync(join(out, 'center.crt'), 'utf8'),
      key: readFileSync(join(out, 'center.key'), 'utf8'),
    },
    output: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    },
  }
}

/** A standard provider over one `ward kms` (see the file comment). */
export class TestKmsProvider implements KeyProviderRuntime {
  readonly type = 'standard' as const
  readonly id: string
  readonly #kmip: KmipClient
  readonly #hosts: () => HostClients
  /** KEK ids created (tests check they never appear where they must not be... bytes never do). */
  readonly created: string[] = []
  constructor(id: string, kms: TestKms, hosts: () => HostClients) {
    this.id = id
    this.#hosts = hosts
    this.#kmip = new KmipClient({
      servers: [{ host: '127.0.0.1', port: kms.port }],
      tls: {
        caPem: kms.tls.ca,
        certPem: kms.tls.cert,
        keyPem: kms.tls.key,
        servername: 'localhost',
      },
    })
  }

  async newKek(): Promise<{ kekId: string }> {
    const kekId = await this.#kmip.create({ name: `ward-test-${Date.now()}` })
    this.created.push(kekId)
    return { kekId }
  }

  async deliverKek(kekId: string, host: { readonly hostId: string }): Promise<void> {
    const o = await this.#kmip.get(kekId)
    const bytes = o.keyMaterial
    if (bytes === undefined) throw new Error(`KMS object ${kekId} has no key bytes`)
    const key = new Secret(new Uint8Array(bytes))
    bytes.fill(0)
    try {
      const c = await this.#hosts().get(host.hostId)
      await pushKey(c, { providerId: this.id, kekId, key })
    } finally {
      key.dispose()
    }
  }

  async keyState(kekId: string): Promise<KeyState> {
    try {
      const o = await this.#kmip.get(kekId)
      o.keyMaterial?.fill(0)
      return 'KeyStateAvailable'
    } catch {
      return 'KeyStateMissingInKMS'
    }
  }

  close(): void {
    this.#kmip.close()
  }
}

/** Providers by id; the first is the default everywhere. */
export function testProviders(list: readonly KeyProviderRuntime[]): KeyProviders {
  return {
    async get(id) {
      const p = list.find((x) => x.id === id)
      if (p === undefined) throw new Error(`no test provider ${id}`)
      return p
    },
    async defaultFor() {
      return list[0]!
    },
  }
}
