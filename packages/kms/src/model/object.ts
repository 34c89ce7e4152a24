/**
 * The managed object as operations see it: identity, lifecycle, attributes (1.x "Attribute
 * Value" form, name → values) and key material (sealed at rest; opened only for the duration of
 * one crypto operation, then zeroed).
 */
import { denied, hiddenDenied, notFound } from '../errors.js'
import type { Barrier } from '../barrier/barrier.js'
import { locateColumns } from '../storage/locate-columns.js'
import type { ObjectRow, Store } from '../storage/store.js'
import type { KmsRuntime } from '../server/runtime.js'
import {
  CryptographicAlgorithm,
  DRBGAlgorithm,
  RNGAlgorithm,
  State,
  Tag,
  fromJsonItem,
  toJsonItem,
} from '@ward/kmip'
import type { JsonItem, TtlvItem } from '@ward/kmip'
import { digestAttribute } from './digest.js'

/** Material format: a KMIP Key Format Type for key bytes, or AS_REGISTERED for a whole TTLV object. */
export const AS_REGISTERED = -1

export interface Attr {
  readonly name: string
  /** Value item tagged Attribute Value (KMIP 1.x form). */
  readonly value: TtlvItem
}

export interface ManagedObject {
  readonly id: string
  readonly owner: string
  readonly objectType: number
  state: number
  attrs: Attr[]
  format: number
  sealed: Uint8Array | null
  readonly createdAt: number
  /** Made by this request (newObject), not loaded: its first save inserts it. */
  readonly isNew?: boolean
  /** Its key material was just dropped (Destroy): the save scrubs old copies (ObjectRow.scrub). */
  dropsMaterial?: boolean
}

export interface OpContext {
  readonly store: Store
  readonly barrier: Barrier
  readonly identity: string
  /** Protocol version of the request (the response uses it too). */
  readonly major: number
  readonly minor: number
  /** Seconds since the epoch (injectable for tests). */
  now(): bigint
  /** Unique Identifier from an earlier batch item (ID Placeholder, KMIP 1.4 §2.1.4). */
  placeholder: string | undefined
  /** Server log for client-supplied Log messages (KMIP 2.1 §6.1.28), tagged with the identity. */
  readonly log?: (message: string) => void
  /** The server's own state: streams, locks, random pool, id generator (server/runtime.ts). */
  readonly runtime: KmsRuntime
}

export function fromRow(r: ObjectRow): ManagedObject {
  const attrs = (JSON.parse(r.attrs) as [string, JsonItem][]).map(([name, v]) => ({
    name,
    value: fromJsonItem(v),
  }))
  const o: ManagedObject = {
    id: r.id,
    owner: r.owner,
    objectType: r.objectType,
    state: r.state,
    attrs,
    format: r.format,
    sealed: r.material,
    createdAt: r.createdAt,
  }
  if (r.fetched === true && attrValues(o, 'Fresh').length > 0) servedAttributes(o)
  return o
}

export function toRow(o: ManagedObject): ObjectRow {
  return {
    id: o.id,
    owner: o.owner,
    objectType: o.objectType,
    state: o.state,
    attrs: JSON.stringify(o.attrs.map((a) => [a.name, toJsonItem(a.value)])),
    material: o.sealed,
    format: o.format,
    createdAt: o.createdAt,
    updatedAt: Date.now(),
    locate: locateColumns(o.attrs),
    fetched: attrValues(o, 'Fresh').some((v) => v.type === 'Boolean' && !v.value),
    ...(o.isNew === true ? { isNew: true } : {}),
    ...(o.dropsMaterial === true ? { scrub: true } : {}),
  }
}

export const attrValues = (o: ManagedObject, name: string): TtlvItem[] =>
  o.attrs.filter((a) => a.name === name).map((a) => a.value)

export function attrScalar(o: ManagedObject, name: string): number | bigint | undefined {
  const v = attrValues(o, name)[0]
  if (v === undefined) return undefined
  return typeof v.value === 'number' || typeof v.value === 'bigint' ? v.value : undefined
}

export function setAttr(o: ManagedObject, name: string, value: TtlvItem): void {
  o.attrs = o.attrs.filter((a) => a.name !== name)
  o.attrs.push({ name, value: { ...value, tag: Tag.AttributeValue } as TtlvItem })
}

/**
 * SP 800-57 states as seen now: a Pre-Active object past its Activation Date reads Active, an
 * Active one past its Deactivation Date reads Deactivated (KMIP 1.4 §3.22, §3.24, §3.25).
 */
export function effectiveState(o: ManagedObject, now: bigint): number {
  const act = attrScalar(o, 'Activation Date')
  const deact = attrScalar(o, 'Deactivation Date')
  let s = o.state
  if (s === State.PreActive && typeof act === 'bigint' && act <= now) s = State.Active
  if (s === State.Active && typeof deact === 'bigint' && deact <= now) s = State.Deactivated
  return s
}

/** Resolve the Unique Identifier (or the batch's ID placeholder). */
export function targetId(ctx: OpContext, id: string | undefined): string {
  const v = id ?? ctx.placeholder
  if (v === undefined) throw notFound('(no Unique Identifier and no ID placeholder)')
  return v
}

/**
 * Load an object and check that `ctx.identity` may run `op` on it: the owner may do anything;
 * anyone else needs a grant naming `op` (or `all`). An identity with no grant at all on the object
 * is answered as if the id did not exist (hiddenDenied: audited as Permission Denied); one with a
 * grant for other operations gets Permission Denied.
 */
export async function loadObject(ctx: OpContext, id: string, op: string): Promise<ManagedObject> {
  const r = await ctx.store.getObject(id)
  if (r === undefined) throw notFound(id)
  if (r.owner !== ctx.identity) {
    const g = await ctx.store.getGrant(id, ctx.identity)
    if (g === undefined) throw hiddenDenied(id)
    if (!(g.includes(op) || g.includes('all'))) throw denied(op, id)
  }
  const o = fromRow(r)
  o.state = effectiveState(o, ctx.now())
  return o
}

/**
 * KMIP 1.4 §3.48–3.51: Sensitive (default False) and Extractable (default True) are the client's;
 * Always Sensitive and Never Extractable are the server's record that they have never been
 * otherwise since creation, so once False they stay False. Kept up to date on every save.
 */
function trackExportAttributes(o: ManagedObject): void {
  const flag = (name: string): boolean | undefined => {
    const v = attrValues(o, name)[0]
    return v?.type === 'Boolean' ? v.value : undefined
  }
  const bool = (value: boolean): TtlvItem => ({ tag: Tag.AttributeValue, type: 'Boolean', value })
  const sensitive = flag('Sensitive') ?? false
  const extractable = flag('Extractable') ?? true
  if (flag('Sensitive') === undefined) setAttr(o, 'Sensitive', bool(false))
  if (flag('Extractable') === undefined) setAttr(o, 'Extractable', bool(true))
  const always = flag('Always Sensitive')
  if (always === undefined || (always && !sensitive))
    setAttr(o, 'Always Sensitive', bool(sensitive))
  const never = flag('Never Extractable')
  if (never === undefined || (never && extractable))
    setAttr(o, 'Never Extractable', bool(!extractable))
}

export async function saveObjects(ctx: OpContext, objs: readonly ManagedObject[]): Promise<void> {
  for (const o of objs) trackExportAttributes(o)
  await ctx.store.putObjects(objs.map(toRow))
}

/** Borrow the plaintext material for `fn`, zeroing it afterwards. */
export function withMaterial<T>(ctx: OpContext, o: ManagedObject, fn: (m: Buffer) => T): T {
  if (o.sealed === null) throw notFound(`${o.id} key material`)
  const m = ctx.barrier.open(o.id, o.sealed)
  try {
    return fn(m)
  } finally {
    m.fill(0)
  }
}

export function sealMaterial(
  ctx: OpContext,
  o: ManagedObject,
  material: Uint8Array,
  format: number,
): void {
  o.sealed = ctx.barrier.seal(o.id, material)
  o.format = format
  // KMIP 1.4 §3.17: the server sets Digest whenever it stores key material.
  const digest = digestAttribute(material, format)
  if (digest !== undefined) setAttr(o, 'Digest', digest)
}

/** Fresh object with the standard dates (Initial Date, Last Change Date). */
export function newObject(ctx: OpContext, objectType: number): ManagedObject {
  const o: ManagedObject = {
    id: ctx.runtime.ids.next(),
    owner: ctx.identity,
    objectType,
    state: State.PreActive,
    attrs: [],
    format: 0,
    sealed: null,
    createdAt: Date.now(),
    isNew: true,
  }
  const now = ctx.now()
  setAttr(o, 'Initial Date', { tag: Tag.InitialDate, type: 'DateTime', value: now })
  setAttr(o, 'Last Change Date', { tag: Tag.LastChangeDate, type: 'DateTime', value: now })
  // KMIP 1.4 §3.41: when the object was first created by the server (kept across Re-key).
  setAttr(o, 'Original Creation Date', {
    tag: Tag.OriginalCreationDate,
    type: 'DateTime',
    value: now,
  })
  // KMIP 1.4 §3.34: Fresh until the key material is first returned by Get (see markFetched).
  setAttr(o, 'Fresh', { tag: Tag.Fresh, type: 'Boolean', value: true })
  return o
}

/** Lease Time (KMIP 1.4 §3.15) granted with the first Get, in seconds: advisory, like the reference server's. */
export const LEASE_SECONDS = 3600

/**
 * Record that `o`'s key material has been returned (KMIP 1.4 §3.34 Fresh becomes False, and the
 * lease of §3.15 starts: Lease Time is set). Only the first Get of a Fresh object writes, so
 * repeated Gets stay read-only; the write goes through the store's group commit and is durable
 * before the material is sent. Objects stored before Fresh was tracked have no Fresh attribute
 * and are left as they are (their history is unknown).
 */
export async function markFetched(ctx: OpContext, o: ManagedObject): Promise<void> {
  if (!attrValues(o, 'Fresh').some((v) => v.type === 'Boolean' && v.value)) return
  // One UPDATE of the `fetched` column (never cleared by later saves), committed before the key
  // leaves; see Store.markFetched for its durability.
  await ctx.store.markFetched(o.id)
  servedAttributes(o)
}

/** Fresh false and the lease of a served object (KMIP 1.4 §3.34, §3.15). */
function servedAttributes(o: ManagedObject): void {
  setAttr(o, 'Fresh', { tag: Tag.Fresh, type: 'Boolean', value: false })
  if (attrValues(o, 'Lease Time').length === 0)
    setAttr(o, 'Lease Time', { tag: Tag.LeaseTime, type: 'Interval', value: LEASE_SECONDS })
}

/**
 * Random Number Generator attribute (KMIP 1.4 §3.44, 2.1 §4.43) of keys the server generates:
 * node:crypto randomFillSync (crypto/random.ts) and generateKeyPair draw from OpenSSL's default DRBG, a NIST SP 800-90A
 * CTR_DRBG over AES-256.
 */
export function markServerGenerated(o: ManagedObject): void {
  setAttr(o, 'Random Number Generator', {
    tag: Tag.RandomNumberGenerator,
    type: 'Structure',
    value: [
      { tag: Tag.RNGAlgorithm, type: 'Enumeration', value: RNGAlgorithm.DRBG },
      { tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value: CryptographicAlgorithm.AES },
      { tag: Tag.CryptographicLength, type: 'Integer', value: 256 },
      { tag: Tag.DRBGAlgorithm, type: 'Enumeration', value: DRBGAlgorithm.CTR },
    ],
  })
}
