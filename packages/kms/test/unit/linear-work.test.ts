/**
 * The linear-time rewrites of issue 10 (finding 1) answer exactly as the code they replace: Locate
 * matching (model/locate-match.ts) and the initial attributes of Create/Register
 * (operations/initial-attributes.ts applyInitialAttributes), checked against the former quadratic versions on
 * random inputs. (The server-level regression tests are in interop/hostile-work.test.ts.)
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { Tag, sameItem } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { locateMatcher } from '../../src/model/locate-match.js'
import { setAttr } from '../../src/model/object.js'
import type { Attr, ManagedObject } from '../../src/model/object.js'
import { isMultiValued, readOnlyAttributes } from '../../src/model/attributes.js'
import { applyInitialAttributes } from '../../src/operations/initial-attributes.js'
import { freshUsageLimits } from '../../src/operations/tighten.js'

const V = Tag.AttributeValue

/** The former Locate matching: one scan of the filters and of the attributes per filter. */
function referenceMatch(filters: readonly Attr[], attrs: readonly Attr[]): boolean {
  const out: ((attrs: readonly Attr[]) => boolean)[] = []
  const done = new Set<string>()
  for (const f of filters) {
    const same = filters.filter((g) => g.name === f.name)
    if (same.length === 2 && same.every((g) => g.value.type === 'DateTime')) {
      if (done.has(f.name)) continue
      done.add(f.name)
      const [a, b] = same.map((g) => g.value.value as bigint) as [bigint, bigint]
      const lo = a < b ? a : b
      const hi = a < b ? b : a
      out.push((xs) =>
        xs.some(
          (x) =>
            x.name === f.name &&
            x.value.type === 'DateTime' &&
            x.value.value >= lo &&
            x.value.value <= hi,
        ),
      )
      continue
    }
    out.push((xs) => xs.some((a) => a.name === f.name && sameItem(a.value, f.value)))
  }
  return out.every((c) => c(attrs))
}

const values: fc.Arbitrary<TtlvItem> = fc.oneof(
  // a valid Usage Limits value (others are refused by both versions)
  fc.bigInt({ min: 1n, max: 9n }).map((t): TtlvItem => ({
    tag: V,
    type: 'Structure',
    value: [
      { tag: Tag.UsageLimitsTotal, type: 'LongInteger', value: t },
      { tag: Tag.UsageLimitsUnit, type: 'Enumeration', value: 1 },
    ],
  })),
  fc.constantFrom('a', 'b', '').map((v): TtlvItem => ({ tag: V, type: 'TextString', value: v })),
  fc.bigInt({ min: 0n, max: 4n }).map((v): TtlvItem => ({ tag: V, type: 'DateTime', value: v })),
  fc.integer({ min: 0, max: 2 }).map((v): TtlvItem => ({ tag: V, type: 'Integer', value: v })),
  fc.integer({ min: 0, max: 2 }).map((v): TtlvItem => ({ tag: V, type: 'Enumeration', value: v })),
  fc.bigInt({ min: -2n, max: 2n }).map((v): TtlvItem => ({ tag: V, type: 'BigInteger', value: v })),
  fc
    .constantFrom([1], [1, 2], [])
    .map((v): TtlvItem => ({ tag: V, type: 'ByteString', value: new Uint8Array(v) })),
  fc.constantFrom('k1', 'k2').map((n): TtlvItem => ({
    tag: V,
    type: 'Structure',
    value: [
      { tag: Tag.NameValue, type: 'TextString', value: n },
      { tag: Tag.NameType, type: 'Enumeration', value: 1 },
    ],
  })),
  // the same children under other tags are another value
  fc.constant<TtlvItem>({
    tag: V,
    type: 'Structure',
    value: [{ tag: Tag.LinkType, type: 'TextString', value: 'k1' }],
  }),
)
const attrs = fc.array(
  fc.record({
    name: fc.constantFrom('Name', 'x-a', 'Activation Date', 'Object Group'),
    value: values,
  }),
  { maxLength: 8 },
)

test('locateMatcher answers as the former per-filter scan', () => {
  fc.assert(
    fc.property(attrs, attrs, (filters, object) => {
      assert.equal(locateMatcher(filters)(object), referenceMatch(filters, object))
    }),
    { numRuns: 5000, seed: 1010 },
  )
  // the cases that matter, spelt out
  const d = (v: bigint): TtlvItem => ({ tag: V, type: 'DateTime', value: v })
  const obj: Attr[] = [{ name: 'Activation Date', value: d(5n) }]
  assert.equal(locateMatcher([])(obj), true)
  assert.equal(
    locateMatcher([
      { name: 'Activation Date', value: d(9n) },
      { name: 'Activation Date', value: d(1n) },
    ])(obj),
    true,
  )
  assert.equal(
    locateMatcher([
      { name: 'Activation Date', value: d(1n) },
      { name: 'Activation Date', value: d(5n) },
      { name: 'Activation Date', value: d(9n) },
    ])(obj),
    false, // three instances are equality criteria, and 1 and 9 are missing
  )
})

/** The former applyInitialAttributes: one setAttr (a scan of o.attrs) per instance. */
function referenceApply(
  o: ManagedObject,
  list: readonly Attr[],
  allowed: ReadonlySet<string>,
): void {
  for (const a of list) {
    if (a.name === 'Object Type' || a.name === 'Unique Identifier') continue
    if (readOnlyAttributes.has(a.name) && !allowed.has(a.name)) throw new Error(a.name)
    if (a.name === 'State') continue
    if (isMultiValued(a.name)) o.attrs.push(a)
    else if (a.name === 'Usage Limits') setAttr(o, a.name, freshUsageLimits(a.value))
    else setAttr(o, a.name, a.value)
  }
}

const blank = (): ManagedObject => ({
  id: 'x',
  owner: 'o',
  objectType: 2,
  state: 1,
  attrs: [
    { name: 'Contact Information', value: { tag: V, type: 'TextString', value: 'first' } },
    { name: 'Initial Date', value: { tag: V, type: 'DateTime', value: 1n } },
  ],
  format: 0,
  sealed: null,
  createdAt: 0,
})

test('applyInitialAttributes keeps the same attributes in the same order as before', () => {
  const names = fc.constantFrom(
    'Name',
    'x-a',
    'Contact Information',
    'Cryptographic Usage Mask',
    'Cryptographic Length',
    'State',
    'Object Type',
    'Unique Identifier',
    'Initial Date',
    'Usage Limits',
  )
  fc.assert(
    fc.property(fc.array(fc.record({ name: names, value: values }), { maxLength: 12 }), (list) => {
      const allowed = new Set(['Cryptographic Length'])
      const a = blank()
      const b = blank()
      let threwA: unknown
      let threwB: unknown
      try {
        applyInitialAttributes(a, list, allowed)
      } catch (e) {
        threwA = e
      }
      try {
        referenceApply(b, list, allowed)
      } catch (e) {
        threwB = e
      }
      assert.equal(threwA !== undefined, threwB !== undefined)
      if (threwA === undefined) assert.deepEqual(a.attrs, b.attrs)
    }),
    { numRuns: 3000, seed: 1010 },
  )
})
