/**
 * Leadership among the `ward center` processes of one database. Every process serves the API; one,
 * the leader, runs the background work (tasks, host polling, alarm checks).
 *
 * On PostgreSQL the leader holds a lease: the row `leader_lease('center')` names its holder and an
 * expiry in the database's clock. Every `renewMs` each process runs one statement that takes the
 * row when it expired or renews it when it holds it (an upsert guarded by `holder = me OR expired`),
 * so the database decides, under its row lock, and no two processes' clocks are compared. A holder
 * that cannot renew steps down by its own monotonic clock before the lease can expire in the
 * database (it counts from the moment it sent the renewal), so two leaders never overlap. A killed
 * leader's lease runs out after `ttlMs`; a leader that closes releases it at once. `epoch` grows at
 * every change of holder (a fencing token for whoever wants one).
 *
 * Why a lease row and not `pg_advisory_lock` on a dedicated connection: an advisory lock lives as
 * long as the server thinks its connection is alive. A leader behind a half-open connection (a
 * partition, a stopped VM) keeps the lock until TCP keepalive gives up, minutes later, and does not
 * itself know whether it still holds it; connection poolers (pgbouncer in transaction mode) break
 * session locks altogether. A lease has a bound that both sides know: the leader stops at its
 * deadline, a standby takes over after the expiry, whatever happened to the connections.
 *
 * On SQLite the database is one process's file: that process is the leader ({@link soleLeadership}).
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { sql, type Kysely } from 'kysely'
import type { Logger } from '@ward/core'
import type { CenterDb } from '../store/schema.js'
import type { Store } from '../store/open.js'

/** What the task runner and the background work ask. */
export interface Leadership {
  /** This process's node id (hostname/pid/random). */
  readonly nodeId: string
  /** Does this process lead now? */
  isLeader(): boolean
  /** Called with true when this process becomes the leader, false when it stops; returns an unsubscribe. */
  onChange(cb: (leader: boolean) => void): () => void
  /** Who leads, as the database says (the status route). */
  status(): Promise<LeaderStatus>
  /** This process's API URL, once it listens (the status route shows the leader's). */
  setUrl(url: string): void
  /** Stop campaigning; a leader releases its lease (another process takes over at once). */
  close(): Promise<void>
}

export interface LeaderStatus {
  readonly mode: 'sqlite' | 'lease'
  readonly node: string
  readonly is_leader: boolean
  /** The holder of an unexpired lease, or null when nobody leads. */
  readonly leader: string | null
  readonly leader_url: string | null
  readonly epoch: number
  /** When the lease expires (ISO time), null without one. */
  readonly expires: string | null
}

/** Lease timing (defaults: a 10 s lease renewed every 2 s: a takeover within about 12 s). */
export const LeaseDefaults = { ttlMs: 10_000, renewMs: 2_000 } as const

export interface LeaseOptions {
  readonly ttlMs?: number
  readonly renewMs?: number
  /** This process's API URL, shown by the status route. */
  readonly url?: string
  readonly nodeId?: string
  readonly logger?: Logger
  /** Campaign at all (false: a process that only reads who leads). Default true. */
  readonly campaign?: boolean
}

const LEASE = 'center'

export const newNodeId = (): string =>
  `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`

class Subscribers {
  readonly #cbs = new Set<(leader: boolean) => void>()
  readonly log: Logger | undefined
  constructor(log: Logger | undefined) {
    this.log = log
  }
  add(cb: (leader: boolean) => void): () => void {
    this.#cbs.add(cb)
    return () => this.#cbs.delete(cb)
  }
  emit(leader: boolean): void {
    for (const cb of [...this.#cbs])
      try {
        cb(leader)
      } catch (e) {
        this.log?.error({ err: (e as Error).message }, 'leadership callback failed')
      }
  }
}

/** SQLite: the one process is the leader from the start. */
export function soleLeadership(o: { nodeId?: string; url?: string } = {}): Leadership {
  const nodeId = o.nodeId ?? newNodeId()
  const subs = new Subscribers(undefined)
  let leader = true
  let url = o.url ?? ''
  return {
    nodeId,
    setUrl: (u) => void (url = u),
    isLeader: () => leader,
    onChange: (cb) => subs.add(cb),
    status: async () => ({
      mode: 'sqlite',
      node: nodeId,
      is_leader: leader,
      leader: leader ? nodeId : null,
      leader_url: leader ? url : null,
      epoch: 1,
      expires: null,
    }),
    async close() {
      if (leader) {
        leader = false
        subs.emit(false)
      }
    },
  }
}

/** The database's clock in ms (PostgreSQL). */
const dbNowMs = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`

/**
 * Take or renew the lease for `holder`; the row as it is afterwards when `holder` holds it,
 * undefined when another process does.
 */
async function tryLease(
  db: Kysely<CenterDb>,
  holder: string,
  url: string,
  ttlMs: number,
): Promise<{ epoch: number; expires_at: number } | undefined> {
  const r = await sql<{ holder: string; epoch: number; expires_at: number }>`
    insert into leader_lease as l (name, holder, url, epoch, acquired_at, expires_at)
    values (${LEASE}, ${holder}, ${url}, 1, ${dbNowMs}, ${dbNowMs} + ${ttlMs})
    on conflict (name) do update set
      holder = excluded.holder,
      url = excluded.url,
      epoch = case when l.holder = excluded.holder then l.epoch else l.epoch + 1 end,
      acquired_at = case when l.holder = excluded.holder then l.acquired_at else excluded.acquired_at end,
      expires_at = excluded.expires_at
    where l.holder = excluded.holder or l.expires_at < excluded.acquired_at
    returning holder, epoch, expires_at`.execute(db)
  const row = r.rows[0]
  return row !== undefined && row.holder === holder
    ? { epoch: Number(row.epoch), expires_at: Number(row.expires_at) }
    : undefined
}

/** Read who holds an unexpired lease. */
async function readLease(
  db: Kysely<CenterDb>,
): Promise<{ holder: string; url: string; epoch: number; expires_at: number } | undefined> {
  const r = await sql<{ holder: string; url: string; epoch: number; expires_at: number }>`
    select holder, url, epoch, expires_at from leader_lease
    where name = ${LEASE} and expires_at >= ${dbNowMs}`.execute(db)
  const row = r.rows[0]
  return row === undefined
    ? undefined
    : { ...row, epoch: Number(row.epoch), expires_at: Number(row.expires_at) }
}

/** PostgreSQL: campaign for the lease (see the module comment). */
export function leaseLeadership(db: Kysely<CenterDb>, o: LeaseOptions = {}): Leadership {
  const nodeId = o.nodeId ?? newNodeId()
  const ttlMs = o.ttlMs ?? LeaseDefaults.ttlMs
  const renewMs = o.renewMs ?? LeaseDefaults.renewMs
  if (!(renewMs > 0 && ttlMs >= 2 * renewMs))
    throw new RangeError('the lease must last at least two renewal periods')
  let url = o.url ?? ''
  const log = o.logger
  const subs = new Subscribers(log)
  // step down this long before the lease could expire in the database
  const margin = Math.min(1000, Math.floor(ttlMs / 10))
  let leader = false
  let epoch = 0
  let closed = false
  let tick: NodeJS.Timeout | undefined
  let deadline: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const setLeader = (v: boolean): void => {
    if (leader === v) return
    leader = v
    log?.info({ node: nodeId, epoch }, v ? 'this center leads now' : 'this center no longer leads')
    subs.emit(v)
  }

  const round = async (): Promise<void> => {
    const sent = performance.now()
    let got: { epoch: number } | undefined
    try {
      // a renewal that takes longer than a period counts as failed
      got = await Promise.race([
        tryLease(db, nodeId, url, ttlMs),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('lease statement timed out')), renewMs).unref(),
        ),
      ])
    } catch (e) {
      log?.warn({ err: (e as Error).message }, 'leader lease: the database did not answer')
      return // a leader keeps its deadline: it steps down there unless a renewal succeeds
    }
    if (closed) return
    if (got === undefined) {
      clearTimeout(deadline)
      setLeader(false)
      return
    }
    epoch = got.epoch
    clearTimeout(deadline)
    const left = Math.max(0, sent + ttlMs - margin - performance.now())
    deadline = setTimeout(() => setLeader(false), left)
    deadline.unref()
    setLeader(true)
  }

  const loop = (): void => {
    if (closed) return
    running = round().finally(() => {
      running = undefined
      if (!closed) {
        tick = setTimeout(loop, renewMs)
        tick.unref()
      }
    })
  }
  if (o.campaign !== false) loop()

  return {
    nodeId,
    setUrl(u) {
      url = u
      // renew now, so that the row shows the URL without waiting a period
      if (!closed && o.campaign !== false && running === undefined) {
        clearTimeout(tick)
        loop()
      }
    },
    isLeader: () => leader,
    onChange: (cb) => subs.add(cb),
    async status() {
      const l = await readLease(db)
      return {
        mode: 'lease',
        node: nodeId,
        is_leader: leader,
        leader: l?.holder ?? null,
        leader_url: l?.url ?? null,
        epoch: l?.epoch ?? epoch,
        expires: l !== undefined ? new Date(l.expires_at).toISOString() : null,
      }
    },
    async close() {
      closed = true
      clearTimeout(tick)
      await running
      clearTimeout(deadline)
      const was = leader
      setLeader(false)
      if (was)
        await db
          .updateTable('leader_lease')
          .set({ expires_at: 0 })
          .where('name', '=', LEASE)
          .where('holder', '=', nodeId)
          .execute()
          .catch((e: Error) => log?.warn({ err: e.message }, 'leader lease: release failed'))
    },
  }
}

/** The leadership of a store: sole on SQLite, a lease on PostgreSQL. */
export function leadershipFor(store: Store, o: LeaseOptions = {}): Leadership {
  return store.dialect === 'sqlite'
    ? soleLeadership({
        ...(o.nodeId !== undefined ? { nodeId: o.nodeId } : {}),
        ...(o.url !== undefined ? { url: o.url } : {}),
      })
    : leaseLeadership(store.db, o)
}
