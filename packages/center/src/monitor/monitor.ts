/**
 * The leader's background checks, every `pollMs` while this process leads (ha/leadership.ts):
 * - each joined host is asked its `status` over mutual TLS; the hosts row gets its connection
 *   state (connected; notResponding when it does not answer; disconnected when the listener at
 *   its address is not that host any more), TPM, secure configuration mode, key persistence,
 *   crypto state and whether its recovery key was backed up; a change is an event, and the alarms
 *   follow (host disconnected, recovery key not backed up, VM locked for the inventory's VMs on the
 *   host, host certificate expiring);
 * - a host of a `forceEnable` cluster that is not safe is enabled with the cluster's policy key;
 * - the center's own certificates (CA, HTTPS server, client) are checked for expiry;
 * - acknowledged alarms with a re-raise period are raised again when due;
 * - the checks other modules register (`addCheck`: a key provider's KMS reachability and
 *   certificates, the NKP backup) run.
 * A round never overlaps the next; a failing check is logged and the others still run.
 */
import { X509Certificate } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { Logger } from '@ward/core'
import type { Alarms, AlarmRef } from '../alarms/alarms.js'
import type { EventLog } from '../events/events.js'
import type { Leadership } from '../ha/leadership.js'
import { HostClient } from '../hosts/client.js'
import { CenterError } from '../errors.js'
import type { CenterDb, HostsTable } from '../store/schema.js'
import {
  clusterPolicy,
  enableHostEncryption,
  hostKeyColumn,
  type HostKeyDelivery,
} from './host-crypto.js'

export const MonitorDefaults = {
  pollMs: 10_000,
  /** A status call's connect and answer bound (a host slower than this is notResponding). */
  hostCallMs: 5_000,
  /** Certificates expiring within this many days raise CertificateExpiring. */
  certWarnDays: 30,
} as const

export interface MonitorOptions {
  readonly pollMs?: number
  readonly hostCallMs?: number
  readonly certWarnDays?: number
  readonly now?: () => number
}

/** The center's PKI as the monitor needs it: the client identity and the certificates to watch. */
export interface MonitorPki {
  readonly caCertPem: string
  readonly client: { readonly certPem: string; readonly keyPem: string }
  readonly server?: { readonly certPem: string }
}

export interface MonitorDeps {
  readonly db: Kysely<CenterDb>
  readonly events: EventLog
  readonly alarms: Alarms
  readonly leadership: Leadership
  readonly pki?: MonitorPki
  readonly logger: Logger
  readonly deliver?: HostKeyDelivery
}

/** A check another module registers (runs on the leader at every round). */
export type MonitorCheck = (now: number) => Promise<void>

/** Raise or clear CertificateExpiring for one certificate (`notAfter` in ms). */
export async function checkCertificate(
  alarms: Alarms,
  ref: Omit<AlarmRef, 'definition'>,
  notAfter: number,
  o: { now: number; warnDays: number; what: string },
): Promise<void> {
  const r = { ...ref, definition: 'CertificateExpiring' as const }
  const left = notAfter - o.now
  if (left > o.warnDays * 86_400_000) {
    await alarms.clear(r)
    return
  }
  const when = new Date(notAfter).toISOString()
  await alarms.raise(
    r,
    left <= 0
      ? `The ${o.what} expired on ${when}: renew it`
      : `The ${o.what} expires on ${when} (in ${Math.ceil(left / 86_400_000)} days): renew it`,
  )
}

export class Monitor {
  readonly #d: MonitorDeps
  readonly #pollMs: number
  readonly #callMs: number
  readonly #warnDays: number
  readonly #now: () => number
  readonly #clients = new Map<string, HostClient>()
  readonly #checks: MonitorCheck[] = []
  #timer: NodeJS.Timeout | undefined
  #round: Promise<void> | undefined
  #closed = false
  #unsubscribe: (() => void) | undefined

  constructor(d: MonitorDeps, o: MonitorOptions = {}) {
    this.#d = d
    this.#pollMs = o.pollMs ?? MonitorDefaults.pollMs
    this.#callMs = o.hostCallMs ?? MonitorDefaults.hostCallMs
    this.#warnDays = o.certWarnDays ?? MonitorDefaults.certWarnDays
    this.#now = o.now ?? Date.now
  }

  /** Run rounds while this process leads. */
  start(): void {
    this.#unsubscribe = this.#d.leadership.onChange((leader) => {
      if (leader) this.#schedule(0)
      else clearTimeout(this.#timer)
    })
    if (this.#d.leadership.isLeader()) this.#schedule(0)
  }

  /** The host key delivery (a key provider's deliverKek) as enableHostEncryption takes it. */
  deliverOption(): { deliver?: HostKeyDelivery } {
    return this.#d.deliver !== undefined ? { deliver: this.#d.deliver } : {}
  }

  addCheck(check: MonitorCheck): void {
    this.#checks.push(check)
  }

  /** A client of a joined host (center's client certificate), kept per host and address. */
  async client(hostId: string): Promise<HostClient> {
    const pki = this.#d.pki
    if (pki === undefined)
      throw new CenterError(
        'ERR_CENTER_PKI_MISSING',
        'this center has no PKI to call hosts with; run ward center init on its data dir',
      )
    const row = await this.#d.db
      .selectFrom('hosts')
      .select(['id', 'address'])
      .where('id', '=', hostId)
      .executeTakeFirst()
    if (row === undefined)
      throw new CenterError('ERR_CENTER_NOT_FOUND', `no host ${hostId}; list them to check the id`)
    const cur = this.#clients.get(hostId)
    if (cur !== undefined && cur.address === row.address) return cur
    cur?.close()
    const c = new HostClient({
      hostId,
      address: row.address,
      pki,
      log: this.#d.logger.child({ component: 'host-client' }),
    })
    this.#clients.set(hostId, c)
    return c
  }

  /** One round now (tests; the timer calls it too). Never two at once. */
  async pollOnce(): Promise<void> {
    while (this.#round !== undefined) await this.#round
    this.#round = this.#run().finally(() => (this.#round = undefined))
    return this.#round
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#unsubscribe?.()
    clearTimeout(this.#timer)
    await this.#round
    for (const c of this.#clients.values()) c.close()
    this.#clients.clear()
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer)
    if (this.#closed) return
    this.#timer = setTimeout(() => {
      if (!this.#d.leadership.isLeader() || this.#closed) return
      void this.pollOnce().finally(() => {
        if (this.#d.leadership.isLeader()) this.#schedule(this.#pollMs)
      })
    }, ms)
    this.#timer.unref()
  }

  async #safely(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn()
    } catch (e) {
      this.#d.logger.warn(
        { check: what, code: (e as CenterError).code, err: (e as Error).message.slice(0, 300) },
        'monitor check failed',
      )
    }
  }

  async #run(): Promise<void> {
    const now = this.#now()
    const hosts = await this.#d.db.selectFrom('hosts').selectAll().orderBy('id').execute()
    await Promise.all(hosts.map((h) => this.#safely(`host ${h.id}`, () => this.#pollHost(h))))
    await this.#safely('center certificates', () => this.#centerCerts(now))
    await this.#safely('alarm re-raise', () => this.#d.alarms.reraiseDue())
    for (const c of this.#checks) await this.#safely('registered check', () => c(now))
  }

  async #centerCerts(now: number): Promise<void> {
    const pki = this.#d.pki
    if (pki === undefined) return
    const certs: [string, string, string | undefined][] = [
      ['ca', "center's CA certificate", pki.caCertPem],
      ['server', "center's HTTPS server certificate", pki.server?.certPem],
      ['client', "center's client certificate", pki.client.certPem],
    ]
    for (const [subject, what, pem] of certs) {
      if (pem === undefined) continue
      const notAfter = Date.parse(new X509Certificate(pem).validTo)
      await checkCertificate(this.#d.alarms, { object: 'root', subject }, notAfter, {
        now,
        warnDays: this.#warnDays,
        what,
      })
    }
  }

  async #pollHost(h: Selectable<HostsTable>): Promise<void> {
    const { db, events, alarms } = this.#d
    const dc =
      (
        await db
          .selectFrom('datacenters')
          .select('name')
          .where('id', '=', h.datacenter)
          .executeTakeFirst()
      )?.name ?? h.datacenter
    const client = await this.client(h.id)
    const down = { definition: 'HostDisconnected', object: h.id } as const
    let s
    try {
      s = await Promise.race([
        client.call('status'),
        new Promise<never>((_, reject) =>
          setTimeout(
            () =>
              reject(
                new CenterError(
                  'ERR_CENTER_HOST_TIMEOUT',
                  `host ${h.id} did not answer within ${Math.round(this.#callMs / 1000)} s`,
                ),
              ),
            this.#callMs,
          ).unref(),
        ),
      ])
    } catch (e) {
      const code = (e as CenterError).code
      const state = code === 'ERR_CENTER_HOST_IDENTITY' ? 'disconnected' : 'notResponding'
      if (h.connection_state !== state) {
        await db
          .updateTable('hosts')
          .set({ connection_state: state })
          .where('id', '=', h.id)
          .execute()
        if (state === 'notResponding')
          await events.post('HostNotRespondingEvent', h.id, { host: h.name, datacenter: dc })
        else
          await events.post('HostDisconnectedEvent', h.id, {
            host: h.name,
            datacenter: dc,
            reason: (e as Error).message.slice(0, 300),
          })
      }
      await alarms.raise(
        down,
        state === 'notResponding'
          ? `Host ${h.name} is not responding`
          : `Host ${h.name} is disconnected: the listener at ${h.address} is not this host`,
      )
      // the connection was probably lost: start afresh next round
      client.close()
      this.#clients.delete(h.id)
      return
    }
    const now = this.#now()
    const backedUp = s.recoveryKey === null ? true : s.recoveryKey.backedUp
    const notAfter = client.peerNotAfter ?? null
    await db
      .updateTable('hosts')
      .set({
        connection_state: 'connected',
        crypto_state: s.crypto.state,
        tpm_present: s.tpm ? 1 : 0,
        secure_config_mode: s.mode,
        key_persistence: s.keyPersistence ? 1 : 0,
        recovery_key_backed_up: backedUp ? 1 : 0,
        last_seen: now,
        cert_not_after: notAfter,
        host_key: hostKeyColumn(s.crypto.hostKey),
      })
      .where('id', '=', h.id)
      .execute()
    if (h.connection_state !== 'connected')
      await events.post('HostConnectedEvent', h.id, { host: h.name, datacenter: dc })
    if (h.crypto_state !== s.crypto.state)
      await events.post('HostCryptoStateChangedEvent', h.id, {
        host: h.name,
        from: h.crypto_state,
        to: s.crypto.state,
      })
    await alarms.clear(down)
    const rk = { definition: 'RecoveryKeyNotBackedUp', object: h.id } as const
    if (backedUp) await alarms.clear(rk)
    else
      await alarms.raise(
        rk,
        `The recovery key of host ${h.name} was not backed up: show it on the host's console (ward host settings encryption recovery list) and store it off the host`,
      )
    if (notAfter !== null)
      await checkCertificate(alarms, { object: h.id, subject: 'host' }, notAfter, {
        now,
        warnDays: this.#warnDays,
        what: `mutual-TLS certificate of host ${h.name}`,
      })
    await this.#vmLocks(h, client)
    await this.#wantedKey(h)
    await this.#forceEnable(h)
  }

  /** "Enable host encryption mode" asked while the host was away: applied now. */
  async #wantedKey(h: Selectable<HostsTable>): Promise<void> {
    const key = clusterPolicy(h.crypto_key_wanted)
    if (key === undefined) return
    try {
      await enableHostEncryption(
        {
          db: this.#d.db,
          events: this.#d.events,
          client: (id) => this.client(id),
          ...this.deliverOption(),
        },
        h.id,
        key,
      )
    } finally {
      await this.#d.db
        .updateTable('hosts')
        .set({ crypto_key_wanted: null })
        .where('id', '=', h.id)
        .execute()
    }
  }

  /** VM locked alarms for the inventory's VMs on this host (by name). */
  async #vmLocks(h: Selectable<HostsTable>, client: HostClient): Promise<void> {
    const vms = await this.#d.db
      .selectFrom('vms')
      .select(['id', 'name', 'crypto_state'])
      .where('host', '=', h.id)
      .execute()
    if (vms.length === 0) return
    const described = new Map((await client.call('vm.list')).map((v) => [v.name, v]))
    for (const vm of vms) {
      const v = described.get(vm.name)
      if (v === undefined) continue
      const ref = { definition: 'VmLocked', object: vm.id } as const
      const state = v.cryptoState ?? null
      if (state !== vm.crypto_state)
        await this.#d.db
          .updateTable('vms')
          .set({ crypto_state: state })
          .where('id', '=', vm.id)
          .execute()
      if (state === 'locked') {
        // the host's key cache lacks the KEK: the seed's "keys are missing" text
        if (
          await this.#d.alarms.raise(
            ref,
            'Virtual machine is locked because keys are missing on KMS cluster.',
          )
        )
          await this.#d.events.post('VmLockedKeysMissingEvent', vm.id, {})
      } else await this.#d.alarms.clear(ref)
    }
  }

  /** forceEnable clusters: enable a host that is not safe with the cluster's policy key. */
  async #forceEnable(h: Selectable<HostsTable>): Promise<void> {
    if (h.cluster === null) return
    const state = (
      await this.#d.db
        .selectFrom('hosts')
        .select('crypto_state')
        .where('id', '=', h.id)
        .executeTakeFirst()
    )?.crypto_state
    if (state === undefined || state === 'safe' || state === 'pendingIncapable') return
    const c = await this.#d.db
      .selectFrom('clusters')
      .select(['crypto_mode', 'crypto_policy'])
      .where('id', '=', h.cluster)
      .executeTakeFirst()
    if (c?.crypto_mode !== 'forceEnable') return
    const key = clusterPolicy(c.crypto_policy)
    if (key === undefined) return
    await enableHostEncryption(
      {
        db: this.#d.db,
        events: this.#d.events,
        client: (id) => this.client(id),
        ...this.deliverOption(),
      },
      h.id,
      key,
    )
  }
}
