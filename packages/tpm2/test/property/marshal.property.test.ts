import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import {
  TPM_ALG,
  TpmError,
  decode,
  encode,
  structures as S,
  parseEventLog,
  decodeSealedBlob,
  encodeSealedBlob,
  EventLogWriter,
  EV,
} from '../../src/index.js'

const params = { seed: 0x7e57, numRuns: 400 }
const isCoded = (e: unknown): boolean => e instanceof TpmError && /^ERR_TPM_/.test(e.code)

const targets = [
  ['TPMT_PUBLIC', S.TPMT_PUBLIC],
  ['TPM2B_PUBLIC', S.TPM2B_PUBLIC],
  ['TPMS_ATTEST', S.TPMS_ATTEST],
  ['TPMT_SIGNATURE', S.TPMT_SIGNATURE],
  ['TPMS_CAPABILITY_DATA', S.TPMS_CAPABILITY_DATA],
  ['TPML_PCR_SELECTION', S.TPML_PCR_SELECTION],
  ['TPML_DIGEST_VALUES', S.TPML_DIGEST_VALUES],
  ['TPMS_CREATION_DATA', S.TPMS_CREATION_DATA],
  ['TPM2B_NV_PUBLIC', S.TPM2B_NV_PUBLIC],
] as const

for (const [name, f] of targets)
  test(`property: random bytes as ${name} only ever throw coded errors`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          const v = decode(f, b)
          // whatever decodes re-encodes to the same bytes (no information lost or invented)
          assert.deepEqual(Buffer.from(encode(f, v as never)), Buffer.from(b))
        } catch (e) {
          if (!isCoded(e)) throw e
        }
      }),
      params,
    )
  })

const hashAlg = fc.constantFrom(TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512)
const size: Record<number, number> = {
  [TPM_ALG.SHA1]: 20,
  [TPM_ALG.SHA256]: 32,
  [TPM_ALG.SHA384]: 48,
  [TPM_ALG.SHA512]: 64,
}
const ha = hashAlg.chain((alg) =>
  fc
    .uint8Array({ minLength: size[alg]!, maxLength: size[alg]! })
    .map((digest) => ({ hashAlg: alg, digest })),
)

test('property: encode → decode round trip (TPML_DIGEST_VALUES, TPML_PCR_SELECTION, TPMS_NV_PUBLIC)', () => {
  fc.assert(
    fc.property(
      fc.array(ha, { maxLength: 16 }),
      fc.array(
        fc
          .record({ hash: hashAlg, pcrSelect: fc.uint8Array({ maxLength: 4 }) })
          .map((r) => ({ ...r })),
        { maxLength: 16 },
      ),
      fc
        .record({
          nvIndex: fc.nat(0xffffffff),
          nameAlg: hashAlg,
          attributes: fc.nat(0xffffffff),
          authPolicy: fc.uint8Array({ maxLength: 64 }),
          dataSize: fc.nat(0xffff),
        })
        .map((r) => ({ ...r })),
      (digests, sels, nv) => {
        assert.deepEqual(
          decode(S.TPML_DIGEST_VALUES, encode(S.TPML_DIGEST_VALUES, digests)),
          digests,
        )
        assert.deepEqual(decode(S.TPML_PCR_SELECTION, encode(S.TPML_PCR_SELECTION, sels)), sels)
        assert.deepEqual(decode(S.TPMS_NV_PUBLIC, encode(S.TPMS_NV_PUBLIC, nv)), nv)
      },
    ),
    params,
  )
})

test('property: sealed blob codec round trips and refuses random bytes with coded errors', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { minLength: 1, maxLength: 24 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 200 }),
      (pcrs, policyDigest, publicBytes, privateBytes, junk) => {
        const blob = {
          pcrs: [...pcrs].sort((a, b) => a - b),
          bank: 'sha256' as const,
          policyDigest,
          publicBytes,
          privateBytes,
        }
        assert.deepEqual(decodeSealedBlob(encodeSealedBlob(blob)), blob)
        try {
          decodeSealedBlob(junk)
        } catch (e) {
          if (!isCoded(e)) throw e
        }
      },
    ),
    params,
  )
})

test('property: event log parser on random and on mutated logs only throws ERR_TPM_EVENTLOG', () => {
  const w = new EventLogWriter(['sha1', 'sha256'])
  const base = Buffer.concat([
    w.header(),
    ...['a', 'bb', 'ccc'].map((s, i) =>
      w.encode({
        pcrIndex: i,
        eventType: EV.ACTION,
        digests: w.digestsOf(Buffer.from(s)),
        event: Buffer.from(s),
      }),
    ),
  ])
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400 }),
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.nat(255)), { maxLength: 6 }),
      (rand, muts) => {
        const m = Buffer.from(base)
        for (const [i, v] of muts) m[i] = v
        for (const b of [rand, m]) {
          try {
            parseEventLog(b)
          } catch (e) {
            if (!(isCoded(e) && (e as TpmError).code === 'ERR_TPM_EVENTLOG')) throw e
          }
        }
      },
    ),
    params,
  )
})
