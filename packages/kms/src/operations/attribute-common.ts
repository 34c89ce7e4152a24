/**
 * Attribute operations: Get Attributes (§4.12), Get Attribute List (§4.13), Add (§4.14),
 * Modify (§4.15), Delete (§4.16) in KMIP 1.4, and Set Attribute (2.1 §6.1.49). Vendor `x-`
 * attributes work exactly as vCenter uses them (Text String values).
 */
import { KmsError } from '../errors.js'
import {
  allAttributes,
  is2x,
  parseAttribute1,
  parseAttribute2,
  readOnlyAttributes,
  renderAttribute,
} from '../model/attributes.js'
import { setAttr } from '../model/object.js'
import type { Attr, ManagedObject, OpContext } from '../model/object.js'
import { State, children, date, find, s, text, Tag } from '@ward/kmip'
import { stateError } from './common.js'
import type { TtlvItem } from '@ward/kmip'

export function attributesPayload(
  ctx: OpContext,
  o: ManagedObject,
  names: readonly string[],
): TtlvItem {
  const all = allAttributes(ctx, o)
  const wanted = new Set(names) // a Set: names × attributes scans were quadratic (issue 10)
  const chosen = names.length === 0 ? all : all.filter(({ attr }) => wanted.has(attr.name))
  const rendered = chosen.map(({ attr, index }) => renderAttribute(ctx, attr, index))
  return s(Tag.ResponsePayload, [
    text(Tag.UniqueIdentifier, o.id),
    ...(is2x(ctx) ? [s(Tag.Attributes, rendered)] : rendered),
  ])
}

export const parseOne = (ctx: OpContext, item: TtlvItem): Attr =>
  is2x(ctx) ? parseAttribute2(item) : parseAttribute1(item)

/** The single attribute argument: 1.x `Attribute`, 2.x `New Attribute { <attr> }`. */
export function attributeArg(
  ctx: OpContext,
  payload: TtlvItem | undefined,
  tag2: number,
): Attr | undefined {
  if (is2x(ctx)) {
    const w = find(payload, tag2)
    if (w === undefined) return undefined
    const [inner] = children(w)
    if (inner === undefined) throw new KmsError('ERR_KMS_MISSING_DATA', 'empty attribute wrapper')
    return parseOne(ctx, inner)
  }
  const a = find(payload, Tag.Attribute)
  return a === undefined ? undefined : parseOne(ctx, a)
}

/**
 * States in which a client may still change a date attribute (KMIP 1.4 §3.24 Activation Date and
 * §3.26 Process Start Date: Pre-Active only; §3.25 Protect Stop Date and §3.27 Deactivation Date:
 * Pre-Active or Active). Changing them later would rewrite the key's history.
 */
const datesWritableIn: Readonly<Record<string, readonly number[]>> = {
  'Activation Date': [State.PreActive],
  'Process Start Date': [State.PreActive],
  'Protect Stop Date': [State.PreActive, State.Active],
  'Deactivation Date': [State.PreActive, State.Active],
}

/** Refuse client changes to server-owned attributes, and to dates the object's state freezes. */
export function checkWritable(name: string, o: ManagedObject): void {
  if (readOnlyAttributes.has(name))
    throw new KmsError('ERR_KMS_READ_ONLY_ATTRIBUTE', `attribute ${name} is set by the server`)
  const states = datesWritableIn[name]
  if (states !== undefined && !states.includes(o.state))
    throw stateError(
      `${name} of ${o.id} can no longer change: the object is in state ${o.state} (see KMIP 1.4 §3.24-3.27)`,
    )
}

export function touch(ctx: OpContext, o: ManagedObject): void {
  setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
}

export const required = (a: Attr | undefined): Attr => {
  if (a === undefined) throw new KmsError('ERR_KMS_MISSING_DATA', 'the attribute is missing')
  return a
}

export function indexOfValue(o: ManagedObject, name: string, nth: number): number {
  let seen = -1
  return o.attrs.findIndex((a) => a.name === name && ++seen === nth)
}
