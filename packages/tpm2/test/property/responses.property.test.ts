import { test } from 'node:test'
import fc from 'fast-check'
import { ScriptedTransport, Tpm, TpmError, commands, PasswordSession } from '../../src/index.js'

const isCoded = (e: unknown): boolean => e instanceof TpmError && /^ERR_TPM_/.test(e.code)

/** A header with a correct size around random bytes, so parsing goes past the header check. */
function framed(tag: number, rc: number, body: Uint8Array): Uint8Array {
  const h = Buffer.alloc(10)
  h.writeUInt16BE(tag)
  h.writeUInt32BE(10 + body.length, 2)
  h.writeUInt32BE(rc, 6)
  return Buffer.concat([h, body])
}

const cases = [
  { c: commands.GetRandom, a: { bytesRequested: 8 }, sessions: false },
  { c: commands.ReadPublic, a: { objectHandle: 0x81000001 }, sessions: false },
  { c: commands.PCR_Read, a: { pcrSelectionIn: [] }, sessions: false },
  {
    c: commands.GetCapability,
    a: { capability: 1, property: 0x81000000, propertyCount: 8 },
    sessions: false,
  },
  {
    c: commands.NV_Read,
    a: { authHandle: 0x40000001, nvIndex: 0x01c00002, size: 8, offset: 0 },
    sessions: true,
  },
  {
    c: commands.Quote,
    a: {
      signHandle: 0x80000000,
      qualifyingData: new Uint8Array(4),
      inScheme: { scheme: 0x10, details: {} },
      PCRselect: [],
    },
    sessions: true,
  },
] as const

test('property: random TPM responses to any command only ever produce coded errors', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...cases),
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc
          .tuple(
            fc.constantFrom(0x8001, 0x8002),
            fc.constantFrom(0, 0x101, 0x922 + 1),
            fc.uint8Array({ maxLength: 200 }),
          )
          .map(([t, rc, b]) => framed(t, rc, b)),
      ),
      async (k, resp) => {
        const tpm = new Tpm(new ScriptedTransport([resp]))
        try {
          await tpm.runUnknown(k.c, k.a, k.sessions ? { sessions: [new PasswordSession()] } : {})
        } catch (e) {
          if (!isCoded(e)) throw e
        }
      },
    ),
    { seed: 0x7e57, numRuns: 600 },
  )
})
