import { KmsError } from '../errors.js'
import { allAttributes, toAttrs } from '../model/attributes.js'
import { effectiveState, fromRow } from '../model/object.js'
import type { Attr } from '../model/object.js'
import type { LocateFilter } from '../storage/store.js'
import { locateMatcher } from '../model/locate-match.js'
import {
  LocateRequest,
  LocateResponse,
  Operation,
  State,
  isV2,
  optionalValue,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'

/**
 * Stored states that can read as `effective` now: dates move Pre-Active → Active → Deactivated
 * without a write (model/object.ts effectiveState), so a filter on Active must also fetch stored
 * Pre-Active rows, and one on Deactivated both. Others are exact.
 */
const storedStatesFor = (effective: number): number[] =>
  effective === State.Active
    ? [State.PreActive, State.Active]
    : effective === State.Deactivated
      ? [State.PreActive, State.Active, State.Deactivated]
      : [effective]

const LIVE = [State.PreActive, State.Active, State.Deactivated, State.Compromised]

/**
 * The part of the Locate criteria SQL can narrow by (object type, state, algorithm, length,
 * name; owner and grants are always applied): a superset of the answer, checked exactly after.
 */
function sqlFilter(filters: readonly Attr[], withDestroyed: boolean): LocateFilter {
  const scalar = (name: string, type: 'Enumeration' | 'Integer'): number | undefined => {
    const v = filters.find((f) => f.name === name)?.value
    return v?.type === type ? v.value : undefined
  }
  const f: {
    objectType?: number
    states?: number[]
    algorithm?: number
    cryptoLength?: number
    name?: string
  } = {}
  const objectType = scalar('Object Type', 'Enumeration')
  if (objectType !== undefined) f.objectType = objectType
  const algorithm = scalar('Cryptographic Algorithm', 'Enumeration')
  if (algorithm !== undefined) f.algorithm = algorithm
  const length = scalar('Cryptographic Length', 'Integer')
  if (length !== undefined) f.cryptoLength = length
  const state = scalar('State', 'Enumeration')
  if (state !== undefined) f.states = storedStatesFor(state)
  else if (!withDestroyed) f.states = LIVE
  const nameAttr = filters.find((x) => x.name === 'Name')?.value
  const name =
    nameAttr?.type === 'Structure'
      ? optionalValue(nameAttr, Tag.NameValue, 'TextString')
      : undefined
  if (name !== undefined) f.name = name
  return f
}

/** Storage Status Mask bit Destroyed Storage (KMIP 2.1 §11.46; not in 1.4's table). */
const DESTROYED = 0x4

/**
 * KMIP 1.4 §4.9 Locate: objects visible to the caller (owned or granted) whose attributes match
 * every supplied one (same name, equal value), ordered by creation; Offset Items and Maximum Items.
 */
export const locate = defineOperation({
  code: Operation.Locate,
  privilege: 'locate',
  request: LocateRequest,
  response: LocateResponse,
  async handle(ctx, request) {
    const max = request.maximumItems
    const offset = request.offsetItems ?? 0
    if ((max !== undefined && max < 0) || offset < 0)
      throw new KmsError(
        'ERR_KMS_INVALID_FIELD',
        'Maximum Items and Offset Items must not be negative',
      )
    const filters = toAttrs(request.attributes)
    // Destroyed objects are tombstones: found only when asked for, by a State filter or (KMIP
    // 2.1 §6.1.27) a Storage Status Mask with the Destroyed Storage bit
    const mask = request.storageStatusMask
    const withDestroyed =
      filters.some((f) => f.name === 'State') || (mask !== undefined && (mask & DESTROYED) !== 0)
    const matches = locateMatcher(filters)
    const rows = await ctx.store.locateVisible(ctx.identity, sqlFilter(filters, withDestroyed))
    const now = ctx.now()
    const hits: string[] = []
    for (const r of rows) {
      const o = fromRow(r)
      o.state = effectiveState(o, now)
      if (!withDestroyed && (o.state === State.Destroyed || o.state === State.DestroyedCompromised))
        continue
      const attrs = allAttributes(ctx, o).map(({ attr }) => attr)
      if (matches(attrs)) hits.push(o.id)
    }
    const page = hits.slice(offset, max === undefined ? undefined : offset + max)
    return {
      ...(page[0] !== undefined ? { objectId: page[0] } : {}),
      payload: {
        // Located Items (1.3+) is optional (1.4 §4.9); like the reference servers, we give it
        // when the client pages with Offset Items or Maximum Items
        locatedItems:
          (isV2(ctx) || ctx.minor >= 3) && (max !== undefined || request.offsetItems !== undefined)
            ? hits.length
            : undefined,
        uniqueIdentifiers: page,
      },
    }
  },
})
