/**
 * The attributes a client supplies with a new object (Create, Create Key Pair, Register, Re-key):
 * applied once, server-owned ones refused, and read back by name.
 */
import { KmsError } from '../errors.js'
import { isMultiValued, readOnlyAttributes } from '../model/attributes.js'
import { setAttr } from '../model/object.js'
import { freshUsageLimits } from './tighten.js'
import type { Attr, ManagedObject } from '../model/object.js'
import type { TtlvItem } from '@ward/kmip'

/** Apply client-supplied attributes at creation; server-owned ones (state, dates) are refused. */
export function applyInitialAttributes(
  o: ManagedObject,
  attrs: readonly Attr[],
  allowed: ReadonlySet<string>,
): void {
  // A single-valued attribute given several times keeps its last value, placed where that one
  // is: only the last instance is set (one setAttr per instance scanned o.attrs each time, which
  // was quadratic in the request, issue 10).
  const last = new Map<string, number>()
  attrs.forEach((a, i) => last.set(a.name, i))
  attrs.forEach((a, i) => {
    if (a.name === 'Object Type' || a.name === 'Unique Identifier') return
    if (readOnlyAttributes.has(a.name) && !allowed.has(a.name))
      throw new KmsError('ERR_KMS_READ_ONLY_ATTRIBUTE', `attribute ${a.name} is set by the server`)
    if (a.name === 'State') return
    if (isMultiValued(a.name)) {
      o.attrs.push(a)
      return
    }
    // KMIP 2.1 §4.59: the Usage Limits Count of a new object is the server's (= the Total)
    const value = a.name === 'Usage Limits' ? freshUsageLimits(a.value) : a.value
    if (last.get(a.name) === i) setAttr(o, a.name, value)
  })
}

export const firstAttr = (attrs: readonly Attr[], name: string): TtlvItem | undefined =>
  attrs.find((a) => a.name === name)?.value

export const num = (v: TtlvItem | undefined): number | undefined =>
  v !== undefined && typeof v.value === 'number' ? v.value : undefined

export function requireNum(attrs: readonly Attr[], name: string): number {
  const v = num(firstAttr(attrs, name))
  if (v === undefined) throw new KmsError('ERR_KMS_MISSING_DATA', `attribute ${name} is required`)
  return v
}
