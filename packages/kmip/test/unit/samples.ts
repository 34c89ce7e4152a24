// A sample value for every member of a declaration (schema.test.ts, schema-bytes.test.ts).
import { Tag, attr, int, nameAttribute, structure } from '../../src/index.js'
import type { Field, Members } from '../../src/index.js'

/** A value for every member of a declaration, of the declared type (the sample the test sends). */
export function sample(members: Members, v2: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, m] of Object.entries(members)) {
    if (m.only !== undefined && (m.only === 'v2') !== v2) continue
    const one = sampleField(m.field, v2)
    out[name] = m.presence === 'repeated' ? [one, sampleField(m.field, v2)] : one
  }
  return out
}

function sampleField(f: Field, v2: boolean): unknown {
  switch (f.kind) {
    case 'value':
      return {
        Integer: 7,
        LongInteger: 7n,
        BigInteger: 7n,
        Enumeration: 1,
        Boolean: true,
        TextString: 'w',
        ByteString: new Uint8Array([1, 2, 3]),
        DateTime: 1_700_000_000n,
        Interval: 60,
        DateTimeExtended: 7n,
      }[f.type]
    case 'struct':
      return sample(f.members, v2)
    case 'item':
      return structure(f.tags[0]!, [int(Tag.CryptographicLength, 128)])
    case 'attributes':
      return [attr('Cryptographic Length', int(0, 128)), nameAttribute('k1')]
    case 'attribute':
      return attr('Cryptographic Length', int(0, 128))
    case 'attributeReference':
      return 'Cryptographic Length'
  }
}
