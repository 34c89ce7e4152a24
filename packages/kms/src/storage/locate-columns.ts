/**
 * The columns Locate filters on in SQL (algorithm, length, names; see statements.ts locateQuery),
 * read from an object's attributes: from the operation's attributes in hand when it saves
 * (model/object.ts toRow), from the stored attribute JSON when rows written before those columns
 * existed are indexed (backfillLocateIndex).
 */
import { Tag, fromJsonItem } from '@ward/kmip'
import type { JsonItem, TtlvItem } from '@ward/kmip'
import type { LocateColumns } from './store.js'

/** Attributes as operations hold them: name and value (KMIP 1.x Attribute Value form). */
export interface NamedValue {
  readonly name: string
  readonly value: TtlvItem
}

export function locateColumns(attrs: Iterable<NamedValue>): LocateColumns {
  let algorithm: number | null = null
  let cryptoLength: number | null = null
  const names = new Set<string>()
  for (const { name, value: v } of attrs) {
    if (name === 'Cryptographic Algorithm' && v.type === 'Enumeration') algorithm = v.value
    else if (name === 'Cryptographic Length' && v.type === 'Integer') cryptoLength = v.value
    else if (name === 'Name' && v.type === 'Structure') {
      for (const c of v.value)
        if (c.tag === Tag.NameValue && c.type === 'TextString') names.add(c.value)
    }
  }
  return { algorithm, cryptoLength, names: [...names] }
}

/** {@link locateColumns} of a stored row's attribute JSON (model/object.ts toRow writes it). */
export const locateColumnsOfJson = (attrsJson: string): LocateColumns =>
  locateColumns(
    (JSON.parse(attrsJson) as [string, JsonItem][]).map(([name, v]) => ({
      name,
      value: fromJsonItem(v),
    })),
  )
