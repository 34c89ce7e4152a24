/**
 * A `ward center` instance over a data dir: DATA_DIR/master.key (0600) unlocks the sealer, the
 * database is DATA_DIR/center.db (SQLite, 0600) or the PostgreSQL of `db`, and the REST API is
 * built from the operation table. `initCenter` creates the data dir (master key, CA and
 * certificates in pki/, database) and the first administrator.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, createLogger, readSecretFile, writeSecretFile, type Logger } from '@ward/core'
import type { FastifyInstance } from 'fastify'
import { Accounts, type AccountOptions } from './auth/accounts.js'
import { AuditLog } from './audit/audit.js'
import { syncSystemRoles } from './authz/role-store.js'
import { CenterError } from './errors.js'
import type { HostCsrSigner, Services } from './api/context.js'
import { accessHandlers } from './api/handlers/access.js'
import { inventoryHandlers } from './api/handlers/inventory.js'
import { nkpHandlers } from './api/handlers/nkp.js'
import { HostLinks } from './providers/native/host-links.js'
import { NativeKeyProviders } from './providers/native/native.js'
import { openapiDocument } from './api/openapi.js'
import { buildApi, type ApiOptions } from './api/server.js'
import { Sealer } from './seal/sealer.js'
import { openStore, type Store } from './store/open.js'
import { PKI_DIR, PkiFiles, initCenterPki, loadCenterPki } from './pki/center-pki.js'
import { signHostCsr } from './pki/sign-csr.js'
// providers
import { providerHandlers } from './api/handlers/providers.js'
import { keyHandlers } from './api/handlers/keys.js'
import { ProviderRegistry, type HostKeyProbe, type KekPusher } from './providers/registry.js'
import { HostClient, pushKey } from './hosts/client.js'
// VM encryption tasks
import { vmHandlers } from './api/handlers/vms.js'
import type { KeyProviders } from './providers/types.js'
import { HostClients } from './tasks/hosts.js'
import { TaskRunner, type TaskRunnerOptions } from './tasks/runner.js'
import { TaskStore } from './tasks/store.js'
import { vmExecutors } from './tasks/vm-tasks.js'
// clone: a privilege checked inside a task (RegisterVM of an encrypted VM)
import { heldPermissions } from './authz/authorizer.js'
import { effectivePrivileges } from './authz/effective.js'
import type { Privilege } from './authz/privileges.js'
import { TreeReader } from './inventory/tree.js'
// ha: leadership, events, alarms, host monitor
import { leadershipFor, type Leadership, type LeaseOptions } from './ha/leadership.js'
import { eventLog, type EventLog } from './events/events.js'
import { alarmStore, type Alarms } from './alarms/alarms.js'
import { Monitor, type MonitorOptions } from './monitor/monitor.js'
import { nkpBackupCheck } from './alarms/nkp.js'
import { kmsCheck } from './alarms/kms.js'
import type { HostKeyDelivery } from './monitor/host-crypto.js'
import { eventHandlers } from './api/handlers/events.js'
import { hostStatusHandlers } from './api/handlers/hosts-status.js'

export const centerPaths = (dir: string) =>
  ({ masterKey: join(dir, 'master.key'), db: join(dir, 'center.db') }) as const

export interface CenterOptions {
  readonly dataDir: string
  /** postgres://… ; default SQLite in the data dir. */
  readonly db?: string
  readonly logger?: Logger
  readonly accounts?: AccountOptions
  /** Default: signHostCsr with the data dir's CA (pki/), when it has one. */
  readonly signHostCsr?: HostCsrSigner
  readonly api?: ApiOptions
  // ha: leadership, events, alarms, host monitor
  /**
   * Run the background work where this process leads (host polling, alarm checks; the task
   * runner follows `leadership`): on PostgreSQL campaign for the leader lease. Default false
   * (`serveCenter` sets it): a center built for a test only serves requests.
   */
  readonly background?: boolean
  readonly ha?: LeaseOptions
  readonly monitor?: MonitorOptions
  /** Delivers a host key before "enable host encryption mode" (a key provider's deliverKek). */
  readonly deliverHostKey?: HostKeyDelivery
  /** The clock of events, alarms and the native key providers' alarm (tests move it). */
  readonly now?: () => number
  /** The task runner (tasks/): key providers, the HA leader hook, retry timing. */
  readonly tasks?: CenterTaskOptions
  /** How often the leader checks the NKP "not backed up" alarm (default 1 h; tests shorten it). */
  readonly alarmCheckMs?: number
}

/** How a center runs its tasks. */
export interface CenterTaskOptions {
  /** The key providers the encryption tasks take KEKs from (providers/). */
  readonly providers?: KeyProviders
  /** Only the leader runs tasks (HA); default: always the leader (SQLite). */
  readonly isLeader?: TaskRunnerOptions['isLeader']
  readonly onLeader?: TaskRunnerOptions['onLeader']
  readonly retryMs?: number
  readonly maxRetryMs?: number
  readonly giveUpMs?: number
  /** Limits of the calls to hosts (tests shorten them). */
  readonly hostConnectMs?: number
  readonly hostCallMs?: number
}

/** The host CSR signer of a data dir's PKI (pki/sign-csr.ts), or undefined without a CA. */
export async function pkiSigner(dataDir: string): Promise<HostCsrSigner | undefined> {
  if (!existsSync(join(dataDir, PKI_DIR, PkiFiles.caCert))) return undefined
  const pki = await loadCenterPki(dataDir)
  return async (r) => {
    const issued = await signHostCsr(pki, r.csrPem, {
      hostId: r.hostId,
      name: r.hostName,
      address: r.address,
    })
    return {
      certificatePem: issued.certPem,
      caCertificatePem: pki.caCertPem,
      fingerprint: issued.fingerprint,
    }
  }
}

export interface Center {
  readonly app: FastifyInstance
  readonly store: Store
  readonly accounts: Accounts
  readonly sealer: Sealer
  /** Native key providers (providers/native/). */
  readonly nkp: NativeKeyProviders
  // providers
  readonly keyProviders: ProviderRegistry
  /** The task runner: `ward center serve` starts it; `createCenter` leaves it to the caller. */
  readonly tasks: TaskRunner
  // ha
  readonly leadership: Leadership
  readonly events: EventLog
  readonly alarms: Alarms
  readonly monitor: Monitor
  close(): Promise<void>
}

function checkDir(dir: string): void {
  let st
  try {
    st = statSync(dir)
  } catch {
    return
  }
  if (!st.isDirectory())
    throw new CenterError(
      'ERR_CENTER_DATA_DIR',
      `${dir} is not a directory; --data-dir names the directory made by ward center init`,
    )
  if ((st.mode & 0o077) !== 0)
    throw new CenterError(
      'ERR_CENTER_DATA_DIR',
      `data dir ${dir} is mode ${(st.mode & 0o777).toString(8)}: other users could read its files; check nobody did, then run: chmod 700 ${dir}`,
    )
}

/** Open the data dir's store and sealer (the master key must exist). */
export async function openCenterStore(
  dataDir: string,
  db?: string,
): Promise<{ store: Store; sealer: Sealer }> {
  checkDir(dataDir)
  const p = centerPaths(dataDir)
  if (!existsSync(p.masterKey))
    throw new CenterError(
      'ERR_CENTER_NOT_INITIALIZED',
      `${dataDir} is not initialized; run: ward center init --data-dir ${dataDir}`,
    )
  const mk = readSecretFile(p.masterKey, { length: 32 })
  const sealer = new Sealer(mk)
  mk.dispose()
  const store = await openStore(db !== undefined ? { url: db } : { sqlitePath: p.db })
  await syncSystemRoles(store.db)
  return { store, sealer }
}

/**
 * providers: push a KEK to a joined host, or ask whether its cache holds one (its address from
 * the inventory), over mutual TLS with the center's client certificate.
 */
async function hostCalls(
  dataDir: string,
  store: Store,
): Promise<{ pushKek: KekPusher; hostHasKey: HostKeyProbe }> {
  const pki = await loadCenterPki(dataDir)
  const withHost = async <T>(hostId: string, fn: (c: HostClient) => Promise<T>): Promise<T> => {
    const h = await store.db
      .selectFrom('hosts')
      .select(['id', 'address'])
      .where('id', '=', hostId)
      .executeTakeFirst()
    if (h === undefined)
      throw new CenterError('ERR_CENTER_NOT_FOUND', `no host ${hostId}; ward host list shows them`)
    const client = new HostClient({ hostId: h.id, address: h.address, pki })
    try {
      return await fn(client)
    } finally {
      client.close()
    }
  }
  return {
    pushKek: (hostId, k) => withHost(hostId, async (c) => void (await pushKey(c, k))),
    hostHasKey: (hostId, k) => withHost(hostId, async (c) => (await c.call('keys.has', k)).inCache),
  }
}

/** Build a center (API not listening yet: `app.listen` or `app.inject`). */
export async function createCenter(o: CenterOptions): Promise<Center> {
  const { store, sealer } = await openCenterStore(o.dataDir, o.db)
  const logger = o.logger ?? createLogger('center')
  const accounts = new Accounts(store.db, sealer, o.accounts)
  const signer = o.signHostCsr ?? (await pkiSigner(o.dataDir))
  // ha: leadership, events, alarms, the leader's host monitor
  const now = o.now ?? Date.now
  const events = eventLog(store.db, { now, logger: logger.child({ component: 'events' }) })
  const alarms = alarmStore(store.db, events, { now })
  const leadership = leadershipFor(store, {
    logger: logger.child({ component: 'ha' }),
    campaign: o.background === true,
    ...o.ha,
  })
  const pki = existsSync(join(o.dataDir, PKI_DIR, PkiFiles.caCert))
    ? await loadCenterPki(o.dataDir)
    : undefined
  const monitor = new Monitor(
    {
      db: store.db,
      events,
      alarms,
      leadership,
      logger: logger.child({ component: 'monitor' }),
      ...(pki !== undefined
        ? { pki: { caCertPem: pki.caCertPem, client: pki.client, server: pki.server } }
        : {}),
      // the host key's provider delivers it (KeyProviderRuntime.deliverKek): a standard provider
      // fetches it from its KMS and pushes it, a native one pushes its KDK (the host derives it)
      deliver:
        o.deliverHostKey ??
        (async (key, hostId) => {
          const known = await store.db
            .selectFrom('key_providers')
            .select('id')
            .where('id', '=', key.providerId)
            .executeTakeFirst()
          if (known === undefined) return false
          await (await keyProviders.get(key.providerId)).deliverKek(key.keyId, { hostId })
          return true
        }),
    },
    { now, ...o.monitor },
  )
  leadership.onChange((leader) => {
    if (leader)
      void leadership
        .status()
        .then((st) => events.post('LeaderElectedEvent', 'root', { node: st.node, epoch: st.epoch }))
        .catch(() => undefined)
  })
  let doc: unknown
  // native key providers: the hosts are reached over mutual TLS with the data dir's PKI
  const hostPki = pki
  const hostLinks = new HostLinks(store.db, hostPki, logger)
  const nkp = new NativeKeyProviders({
    db: store.db,
    sealer,
    hosts: hostLinks,
    logger,
    ...(o.now !== undefined ? { now: o.now } : {}),
  })
  // the NKP "not backed up" alarm: checked by the HA leader only (at once when it takes the
  // lead, then every alarmCheckMs), as the monitor and the task runner run on the leader only
  const nkpAlarmCheck = (): void => {
    if (leadership.isLeader()) void nkp.checkAlarms().catch(() => undefined)
  }
  const alarmTimer = setInterval(nkpAlarmCheck, o.alarmCheckMs ?? 3600_000)
  alarmTimer.unref()
  leadership.onChange((leader) => {
    if (leader) nkpAlarmCheck()
  })
  // providers: KEKs go to hosts over mutual TLS with the center's client certificate
  const hostLink = existsSync(join(o.dataDir, PKI_DIR, PkiFiles.caCert))
    ? await hostCalls(o.dataDir, store)
    : undefined
  const keyProviders = new ProviderRegistry({
    db: store.db,
    sealer,
    logger: logger.child({ component: 'providers' }),
    ...(hostLink !== undefined ? hostLink : {}),
    native: async (row) => nkp.runtime(row.id),
  })
  const taskStore = new TaskStore(store.db)
  const t = o.tasks ?? {}
  const hostClients = new HostClients({
    db: store.db,
    pki: pki ?? { caCertPem: '', client: { certPem: '', keyPem: '' } },
    log: logger.child({ component: 'hosts' }),
    ...(t.hostConnectMs !== undefined ? { connectMs: t.hostConnectMs } : {}),
    ...(t.hostCallMs !== undefined ? { callMs: t.hostCallMs } : {}),
  })
  const runner = new TaskRunner({
    store: taskStore,
    executors: vmExecutors({
      db: store.db,
      hosts: hostClients,
      providers: t.providers ?? keyProviders,
      // clone: a privilege a task finds it needs (an encrypted VM at a register), audited
      requirePrivilege: async (task, object, privilege, why) => {
        const path = await new TreeReader(store.db).pathOf(object)
        const held =
          path === undefined
            ? new Set<Privilege>()
            : effectivePrivileges(await heldPermissions(store.db, task.user), path)
        const ok = held.has(privilege)
        // services is made below; a task runs only after it is
        await services.audit.record({
          requestId: task.id,
          principal: task.user,
          method: 'TASK',
          route: task.kind,
          privileges: [privilege],
          object,
          outcome: ok ? 'allowed' : 'denied',
          ...(ok ? {} : { missing: privilege }),
          status: ok ? 200 : 403,
        })
        if (!ok)
          throw new CenterError(
            'ERR_CENTER_PERMISSION_DENIED',
            `${why} needs the privilege ${privilege} on ${object}, which ${task.user} lacks; ask an administrator for a role that has it, then run it again`,
            { privilege, object },
          )
      },
    }),
    logger: logger.child({ component: 'tasks' }),
    // only the leader runs tasks (ha/): on SQLite the one process leads
    isLeader: t.isLeader ?? (() => leadership.isLeader()),
    onLeader:
      t.onLeader ??
      ((cb) => {
        leadership.onChange((leader) => {
          if (leader) cb()
        })
      }),
    ...(t.retryMs !== undefined ? { retryMs: t.retryMs } : {}),
    ...(t.maxRetryMs !== undefined ? { maxRetryMs: t.maxRetryMs } : {}),
    ...(t.giveUpMs !== undefined ? { giveUpMs: t.giveUpMs } : {}),
  })
  const services: Services = {
    store,
    accounts,
    sealer,
    audit: new AuditLog(store.db, logger.child({ component: 'audit' })),
    logger,
    ...(signer !== undefined ? { signHostCsr: signer } : {}),
    openapi: () => (doc ??= openapiDocument()),
    nkp,
    keyProviders,
    tasks: { store: taskStore, kick: () => runner.kick() },
    leadership,
    events,
    alarms,
    monitor,
  }
  let app: FastifyInstance
  try {
    app = await buildApi(
      services,
      {
        ...accessHandlers,
        ...inventoryHandlers,
        ...nkpHandlers,
        ...providerHandlers,
        ...keyHandlers,
        ...vmHandlers,
        // ha
        ...eventHandlers,
        ...hostStatusHandlers,
      },
      o.api,
    )
  } catch (e) {
    clearInterval(alarmTimer)
    hostLinks.close()
    await leadership.close()
    await store.close()
    throw e
  }
  monitor.addCheck(nkpBackupCheck(store.db, alarms))
  monitor.addCheck(kmsCheck(store.db, sealer, alarms))
  if (o.background === true) monitor.start()
  return {
    app,
    store,
    accounts,
    sealer,
    nkp,
    keyProviders,
    tasks: runner,
    leadership,
    events,
    alarms,
    monitor,
    async close() {
      clearInterval(alarmTimer)
      runner.close()
      hostClients.close()
      await monitor.close()
      await leadership.close()
      await app.close()
      await nkp.settled()
      hostLinks.close()
      keyProviders.close()
      await store.close()
      sealer.dispose()
    },
  }
}

/**
 * Create a data dir (0700) with a master key (0600) and the database, and the first
 * administrator `admin` with `password` (bytes from a 0600 file or a prompt, never argv), who
 * gets the Admin role on root. Refuses an existing master key.
 */
export async function initCenter(o: {
  readonly dataDir: string
  readonly db?: string
  readonly admin: string
  readonly password: Uint8Array
  readonly accounts?: AccountOptions
  /** More names or addresses for the HTTPS server certificate (pki/). */
  readonly serverNames?: readonly string[]
}): Promise<{ dataDir: string; admin: string; schema: readonly string[]; caFingerprint: string }> {
  const p = centerPaths(o.dataDir)
  checkDir(o.dataDir)
  if (existsSync(p.masterKey))
    throw new CenterError(
      'ERR_CENTER_ALREADY_INITIALIZED',
      `${o.dataDir} already holds a master.key; use another --data-dir or remove it deliberately`,
    )
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  checkDir(o.dataDir)
  const mk = randomBytes(32)
  writeSecretFile(p.masterKey, new Secret(mk))
  mk.fill(0)
  const pki = await initCenterPki(o.dataDir, { serverNames: o.serverNames ?? [] })
  const { store, sealer } = await openCenterStore(o.dataDir, o.db)
  try {
    const accounts = new Accounts(store.db, sealer, o.accounts)
    await accounts.createUser(o.admin, o.password)
    await store.db
      .insertInto('permissions')
      .values({ object: 'root', principal: o.admin, role: -1, propagate: 1 })
      .execute()
    return {
      dataDir: o.dataDir,
      admin: o.admin,
      schema: store.versions,
      caFingerprint: pki.caFingerprint,
    }
  } finally {
    await store.close()
    sealer.dispose()
  }
}

/** `ward center serve`: the API over HTTPS only, with the data dir's server certificate. */
export async function serveCenter(o: {
  readonly dataDir: string
  readonly db?: string
  /** HOST:PORT (default 127.0.0.1:8443; port 0 picks a free one). */
  readonly listen?: string
  readonly logger?: Logger
  readonly tasks?: CenterTaskOptions
  readonly ha?: LeaseOptions
  readonly monitor?: MonitorOptions
}): Promise<{
  readonly url: string
  readonly caFingerprint: string
  readonly center: Center
  close(): Promise<void>
}> {
  const pki = await loadCenterPki(o.dataDir)
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(o.listen ?? '127.0.0.1:8443')
  if (m === null || Number(m[2]) > 65535)
    throw new CenterError(
      'ERR_CENTER_DATA_DIR',
      `--listen must be HOST:PORT, e.g. 127.0.0.1:8443 (got ${o.listen})`,
    )
  const center = await createCenter({
    dataDir: o.dataDir,
    ...(o.db !== undefined ? { db: o.db } : {}),
    ...(o.logger !== undefined ? { logger: o.logger } : {}),
    api: { https: { key: pki.server.keyPem, cert: pki.server.certPem } },
    ...(o.tasks !== undefined ? { tasks: o.tasks } : {}),
    background: true,
    ...(o.ha !== undefined ? { ha: o.ha } : {}),
    ...(o.monitor !== undefined ? { monitor: o.monitor } : {}),
  })
  center.tasks.start()
  const host = m[1]!.replace(/^\[|\]$/g, '')
  await center.app.listen({ host, port: Number(m[2]) })
  const addr = center.app.server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : Number(m[2])
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
  center.leadership.setUrl(url)
  return {
    url,
    caFingerprint: pki.caFingerprint,
    center,
    close: () => center.close(),
  }
}
