/**
 * Locate's selection criteria (KMIP 1.4 §4.9, 2.1 §6.1.27) as one test over an object's
 * attributes. Equality on the value for every supplied attribute, except that two instances of
 * the same Date-Time attribute select the dates between them, both included.
 *
 * Linear in the filters and in each object's attributes: the wanted values are a set of keys, and
 * each object's attributes are read once. (It was one scan of the object per filter, and one scan
 * of the filters per filter: quadratic, and one large request held the event loop; figure:
 * bench/README.md, "Figures from source comments".)
 */
import { toJsonItem } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { Attr } from './object.js'

/**
 * A key equal for two attributes exactly when their names are equal and their values are
 * `sameItem` (same type and value, structures with the same children and tags, the top-level tag
 * aside): the compact form is lossless.
 */
function attrKey(name: string, v: TtlvItem): string {
  return JSON.stringify([name, v.type, toJsonItem(v)[2]])
}

/** The test for Locate `filters` (1.x Attribute Name form), true when an object matches them all. */
export function locateMatcher(filters: readonly Attr[]): (attrs: readonly Attr[]) => boolean {
  const byName = new Map<string, Attr[]>()
  for (const f of filters) {
    const g = byName.get(f.name)
    if (g === undefined) byName.set(f.name, [f])
    else g.push(f)
  }
  /** Names compared by value, and the keys of the values wanted. */
  const equalNames = new Set<string>()
  const wanted = new Set<string>()
  /** Names selected by a date range: [from, to]. */
  const ranges = new Map<string, readonly [bigint, bigint]>()
  for (const [name, g] of byName) {
    const [a, b] = g
    if (g.length === 2 && a!.value.type === 'DateTime' && b!.value.type === 'DateTime') {
      const x = a!.value.value
      const y = b!.value.value
      ranges.set(name, x < y ? [x, y] : [y, x])
      continue
    }
    equalNames.add(name)
    for (const f of g) wanted.add(attrKey(name, f.value))
  }
  if (byName.size === 0) return () => true
  return (attrs) => {
    const found = new Set<string>()
    const inRange = new Set<string>()
    for (const a of attrs) {
      if (equalNames.has(a.name)) {
        const k = attrKey(a.name, a.value)
        if (wanted.has(k)) found.add(k)
      } else {
        const r = ranges.get(a.name)
        if (r !== undefined && a.value.type === 'DateTime') {
          const v = a.value.value
          if (v >= r[0] && v <= r[1]) inRange.add(a.name)
        }
      }
    }
    return found.size === wanted.size && inRange.size === ranges.size
  }
}
