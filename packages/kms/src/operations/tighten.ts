/**
 * Attributes a client may only tighten once the object exists (Add / Modify / Set / Delete
 * Attribute). KMIP 1.4 §3.48 / 2.1 §4.55 Sensitive and §3.50 / §4.23 Extractable: "Deletable by
 * client: No", and Always Sensitive / Never Extractable record that they never went the other
 * way, so Sensitive may go false → true only and Extractable true → false only (PKCS#11's rule
 * for CKA_SENSITIVE / CKA_EXTRACTABLE, which these attributes come from). §3.19 / §4.17
 * Cryptographic Usage Mask: "Modifiable by client: No, Deletable by client: No"; Ward lets a
 * client narrow it (drop bits), never widen or delete it. §3.21 / §4.59 Usage Limits: the Total
 * "SHALL NOT be changed once the object begins to be used", the Count "SHALL NOT be set or
 * modified by the client": Ward allows adding limits to an unlimited key and lowering the Total
 * of a key not used yet; never raising it, changing the unit, resetting the Count, or deleting.
 */
import { KmsError, invalidField } from '../errors.js'
import { attrValues } from '../model/object.js'
import type { ManagedObject } from '../model/object.js'
import { Tag, enumeration, long, optionalValue, structure } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'

const refuse = (o: ManagedObject, message: string): KmsError =>
  new KmsError(
    'ERR_KMS_TIGHTEN_ONLY',
    `${message} on ${o.id}: this attribute may only be tightened (KMIP 1.4 §3.19, §3.21, §3.48, §3.50)`,
  )

function boolOf(name: string, v: TtlvItem | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (v.type !== 'Boolean') throw invalidField(`${name} is a Boolean`)
  return v.value
}

/** KMIP 1.4 §9.1.3.2.31 Usage Limits Unit Byte (the default when none is given). */
const BYTE = 1

interface Limits {
  readonly total: bigint
  readonly left: bigint
  readonly unit: number
}

function limitsOf(v: TtlvItem): Limits {
  if (v.type !== 'Structure') throw invalidField('Usage Limits is a structure')
  const total = optionalValue(v, Tag.UsageLimitsTotal, 'LongInteger')
  if (total === undefined || total < 0n)
    throw invalidField('Usage Limits needs a Usage Limits Total of 0 or more')
  const left = optionalValue(v, Tag.UsageLimitsCount, 'LongInteger') ?? total
  return { total, left, unit: optionalValue(v, Tag.UsageLimitsUnit, 'Enumeration') ?? BYTE }
}

/**
 * A Usage Limits value as the server stores it: the Count is the server's (KMIP 2.1 §4.59: "SHALL
 * ignore the Usage Limits Count value ... in an operation that creates a new object"), so a new
 * limit starts at its Total whatever Count the client sent.
 */
export function freshUsageLimits(v: TtlvItem): TtlvItem {
  const l = limitsOf(v)
  return structure(Tag.AttributeValue, [
    long(Tag.UsageLimitsTotal, l.total),
    long(Tag.UsageLimitsCount, l.total),
    enumeration(Tag.UsageLimitsUnit, l.unit),
  ])
}

/** A change to one attribute: its value now, and the one asked for. */
export interface AttributeChange {
  readonly name: string
  /** undefined: the object has none */
  readonly current: TtlvItem | undefined
  /** undefined: it is deleted */
  readonly next: TtlvItem | undefined
}

/**
 * Check that a change to an attribute of `o` does not loosen it; returns the value to store
 * (Usage Limits are normalised: the Count is the server's), or `next` unchanged. Other attributes
 * pass as is.
 */
export function tightenOnly(o: ManagedObject, change: AttributeChange): TtlvItem | undefined {
  const { name, current, next } = change
  switch (name) {
    case 'Sensitive': {
      if (next === undefined) throw refuse(o, 'Sensitive cannot be deleted')
      if (boolOf(name, current, false) && !boolOf(name, next, false))
        throw refuse(o, 'Sensitive cannot go from true to false')
      return next
    }
    case 'Extractable': {
      if (next === undefined) throw refuse(o, 'Extractable cannot be deleted')
      if (!boolOf(name, current, true) && boolOf(name, next, true))
        throw refuse(o, 'Extractable cannot go from false to true')
      return next
    }
    case 'Cryptographic Usage Mask': {
      if (next === undefined) throw refuse(o, 'the Cryptographic Usage Mask cannot be deleted')
      if (next.type !== 'Integer') throw invalidField('Cryptographic Usage Mask is an Integer')
      if (
        current !== undefined &&
        current.type === 'Integer' &&
        (next.value & ~current.value) !== 0
      )
        throw refuse(
          o,
          `the Cryptographic Usage Mask 0x${current.value.toString(16)} cannot gain bits 0x${(next.value & ~current.value).toString(16)}`,
        )
      return next
    }
    case 'Usage Limits': {
      if (next === undefined) throw refuse(o, 'Usage Limits cannot be deleted')
      if (current === undefined) return freshUsageLimits(next)
      const cur = limitsOf(current)
      const nxt = limitsOf(next)
      if (nxt.unit !== cur.unit) throw refuse(o, 'the Usage Limits Unit cannot change')
      if (nxt.total > cur.total) throw refuse(o, 'the Usage Limits Total cannot be raised')
      if (nxt.total !== cur.total && cur.left !== cur.total)
        throw refuse(o, 'the Usage Limits Total cannot change once the key has been used')
      // The remaining count never grows, and it is the server's: a Count sent that is not the
      // one the server keeps is refused rather than ignored (KMIP 2.1 §4.59).
      const left = cur.left < nxt.total ? cur.left : nxt.total
      if (
        optionalValue(next, Tag.UsageLimitsCount, 'LongInteger') !== undefined &&
        nxt.left !== left
      )
        throw refuse(o, `the Usage Limits Count is kept by the server (${left} left)`)
      return structure(Tag.AttributeValue, [
        long(Tag.UsageLimitsTotal, nxt.total),
        long(Tag.UsageLimitsCount, left),
        enumeration(Tag.UsageLimitsUnit, nxt.unit),
      ])
    }
    default:
      return next
  }
}

/** The object's one value of a single-valued attribute (what tightenOnly compares with). */
export const currentValue = (o: ManagedObject, name: string): TtlvItem | undefined =>
  attrValues(o, name)[0]
