/**
 * Whether a key may be used now, and what a use costs (KMIP 1.4 §3.21-3.28): lifecycle state,
 * Cryptographic Usage Mask, Process Start / Protect Stop dates, and the Usage Limits count-down;
 * shared by the cryptographic operations.
 */
import { KmsError, invalidField, notFound, notSupported } from '../errors.js'
import {
  AS_REGISTERED,
  attrScalar,
  attrValues,
  fromRow,
  loadObject,
  saveObjects,
  setAttr,
  targetId,
} from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import { State, enumeration, long, optionalValue, structure, tagLabel, Tag } from '@ward/kmip'
import { stateError, usageMaskError } from './refusals.js'

/** Largest Data accepted per request (a stream can carry more over several requests). */
export const MAX_DATA = 1 << 20

/** What an operation does with the key, for the usage dates (KMIP 1.4 §3.27–3.28). */
export type Purpose = 'protect' | 'process'

/**
 * Loads the target and checks it may be used now: lifecycle state, Cryptographic Usage Mask, and
 * the Process Start / Protect Stop dates (protecting after Protect Stop Date, or processing before
 * Process Start Date, is refused like a wrong state: OASIS CS-BC-M-14, CS-AC-M-8).
 */
export interface UsageCheck {
  /** The request's Unique Identifier (absent: the batch's ID Placeholder). */
  readonly id: string | undefined
  /** The grant the caller needs, which also names the operation in messages ('encrypt'...). */
  readonly operation: string
  /** The Cryptographic Usage Mask bit the operation needs. */
  readonly usageMask: number
  /** States in which the key may be used for it. */
  readonly states: readonly number[]
  readonly purpose: Purpose
}

export async function usable(ctx: OpContext, check: UsageCheck): Promise<ManagedObject> {
  const { operation: op, usageMask: bit, states, purpose } = check
  const id = targetId(ctx, check.id)
  const o = await loadObject(ctx, id, op)
  if (!states.includes(o.state))
    throw stateError(`object ${id} is in state ${o.state}; ${op} needs ${states.join('/')}`)
  const now = ctx.now()
  const start = attrScalar(o, 'Process Start Date')
  const stop = attrScalar(o, 'Protect Stop Date')
  if (purpose === 'process' && typeof start === 'bigint' && now < start)
    throw stateError(`object ${id} may not be used to ${op} before its Process Start Date`)
  if (purpose === 'protect' && typeof stop === 'bigint' && now >= stop)
    throw stateError(`object ${id} may not be used to ${op} after its Protect Stop Date`)
  if (o.sealed === null || o.format === AS_REGISTERED)
    throw notSupported(`object ${id} has no key usable for ${op}`)
  const mask = attrScalar(o, 'Cryptographic Usage Mask')
  if (typeof mask === 'number' && (mask & bit) === 0)
    throw usageMaskError(`object ${id}'s Cryptographic Usage Mask does not allow ${op}`)
  return o
}

/** KMIP 1.4 §9.1.3.2.31 Usage Limits Unit. */
const UsageLimitsUnit = { Byte: 1, Object: 2 } as const

/**
 * Usage Limits (KMIP 1.4 §3.21): a key registered with a Usage Limits Total may protect that many
 * bytes (or objects) in all; the remaining Usage Limits Count is kept on the object and saved
 * before the operation answers. Refused with Permission Denied when exhausted (OASIS CS-BC-M-7).
 * The count-down runs under the object's lock on the latest saved copy of the object, so
 * concurrent requests never spend one allowance twice, and a change saved meanwhile by another
 * operation (an added attribute, a state change) is kept.
 */
export async function consumeUsage(ctx: OpContext, o: ManagedObject, bytes: number): Promise<void> {
  if (attrValues(o, 'Usage Limits')[0] === undefined) return
  await ctx.runtime.locks.run(o.id, async () => {
    const row = await ctx.store.getObject(o.id)
    if (row === undefined) throw notFound(o.id)
    const fresh = fromRow(row)
    countDown(fresh, bytes)
    await saveObjects(ctx, [fresh])
  })
}

function countDown(o: ManagedObject, bytes: number): void {
  const ul = attrValues(o, 'Usage Limits')[0]
  if (ul === undefined) return
  const total = optionalValue(ul, Tag.UsageLimitsTotal, 'LongInteger')
  const unit = optionalValue(ul, Tag.UsageLimitsUnit, 'Enumeration') ?? UsageLimitsUnit.Byte
  const left = optionalValue(ul, Tag.UsageLimitsCount, 'LongInteger') ?? total
  if (total === undefined || left === undefined) return
  const need = BigInt(unit === UsageLimitsUnit.Object ? 1 : bytes)
  if (left < need)
    throw new KmsError(
      'ERR_KMS_USAGE_LIMIT',
      `object ${o.id} has used up its Usage Limits (${left} of ${total} ${unit === UsageLimitsUnit.Object ? 'objects' : 'bytes'} left); use a new key (ReKey)`,
    )
  setAttr(
    o,
    'Usage Limits',
    structure(Tag.UsageLimits, [
      long(Tag.UsageLimitsTotal, total),
      long(Tag.UsageLimitsCount, left - need),
      enumeration(Tag.UsageLimitsUnit, unit),
    ]),
  )
}

/**
 * An input of a keyed operation (Data, Signature Data, MAC Data): optional in the payload's
 * declaration so that the key is checked first, required here (KMIP 1.4 §4.29-4.34).
 */
export function requiredInput(v: Uint8Array | undefined, tag: number): Uint8Array {
  if (v === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', `request payload lacks ${tagLabel(tag)}`)
  return v
}

/** The Data of one request (required), at most MAX_DATA bytes. */
export function checkDataSize(data: Uint8Array | undefined): Uint8Array {
  const d = requiredInput(data, Tag.Data)
  if (d.length > MAX_DATA)
    throw invalidField('Data is limited to 1 MiB per request; stream larger data (Init Indicator)')
  return d
}

export const ACTIVE = [State.Active]
export const PROCESS = [State.Active, State.Deactivated, State.Compromised]
