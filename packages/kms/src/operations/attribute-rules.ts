/**
 * What clients may change of an object's attributes (Add, Modify, Set and Delete Attribute: KMIP
 * 1.4 §4.14-4.16, 2.1 §6.1.49): server-owned attributes never, dates only while the state allows.
 */
import { KmsError } from '../errors.js'
import { readOnlyAttributes } from '../model/attributes.js'
import { setAttr } from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import { State, date, Tag } from '@ward/kmip'
import { stateError } from './refusals.js'

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

/** Records the change (Last Change Date, KMIP 1.4 §3.32). */
export function touch(ctx: OpContext, o: ManagedObject): void {
  setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
}

/** Position in o.attrs of the `nth` instance of `name`, or -1. */
export function indexOfValue(o: ManagedObject, name: string, nth: number): number {
  let seen = -1
  return o.attrs.findIndex((a) => a.name === name && ++seen === nth)
}
