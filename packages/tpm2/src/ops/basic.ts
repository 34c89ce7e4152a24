/** GetRandom, GetCapability, FlushContext, EvictControl: small helpers over Part 3 commands. */
import { EvictControl, FlushContext, GetCapability, GetRandom } from '../commands/commands.js'
import { TPM_CAP, TPM_HT, TPM_PT, TPM_RH } from '../constants.js'
import { TpmError } from '../errors.js'
import { PasswordSession } from '../session/session.js'
import type { Tpm } from '../tpm.js'

/** TPM2_GetRandom until `n` bytes are gathered (the TPM returns at most one digest per call). */
export async function getRandom(tpm: Tpm, n: number): Promise<Uint8Array> {
  if (!Number.isInteger(n) || n < 0 || n > 65536)
    throw new TpmError('ERR_TPM_ARG', 'random length must be 0..65536')
  const out = Buffer.alloc(n)
  let have = 0
  while (have < n) {
    const { randomBytes } = await tpm.run(GetRandom, { bytesRequested: Math.min(32, n - have) })
    if (randomBytes.length === 0)
      throw new TpmError('ERR_TPM_DECODE', 'TPM returned no random bytes')
    out.set(randomBytes.subarray(0, n - have), have)
    have += randomBytes.length
  }
  return out
}

const handleRanges = {
  pcr: TPM_HT.PCR << 24,
  'nv-index': TPM_HT.NV_INDEX << 24,
  'hmac-session': TPM_HT.HMAC_SESSION << 24,
  'policy-session': TPM_HT.POLICY_SESSION << 24,
  permanent: TPM_HT.PERMANENT << 24,
  transient: (TPM_HT.TRANSIENT << 24) >>> 0,
  persistent: (TPM_HT.PERSISTENT << 24) >>> 0,
} as const
export type HandleKind = keyof typeof handleRanges

/** GetCapability(TPM_CAP_HANDLES) for one handle type, following moreData (`tpm2_getcap handles-*`). */
export async function listHandles(tpm: Tpm, kind: HandleKind): Promise<number[]> {
  const start = handleRanges[kind]
  const top = (start >>> 24) + 1
  const out: number[] = []
  let next = start
  for (let guard = 0; guard < 1024; guard++) {
    const r = await tpm.run(GetCapability, {
      capability: TPM_CAP.HANDLES,
      property: next,
      propertyCount: 254,
    })
    const hs = (r.capabilityData.data as number[]).filter((h) => h >>> 24 === start >>> 24)
    out.push(...hs)
    if (r.moreData === 0 || hs.length === 0) return out
    next = hs[hs.length - 1]! + 1
    if (next >>> 24 >= top) return out
  }
  throw new TpmError('ERR_TPM_DECODE', 'GetCapability kept returning moreData')
}

/** Fixed TPM properties (TPM_PT_FIXED group), e.g. PCR_COUNT, NV_BUFFER_MAX, MANUFACTURER. */
export async function getProperties(tpm: Tpm): Promise<Map<number, number>> {
  const r = await tpm.run(GetCapability, {
    capability: TPM_CAP.TPM_PROPERTIES,
    property: TPM_PT.FAMILY_INDICATOR,
    propertyCount: 128,
  })
  const m = new Map<number, number>()
  for (const p of r.capabilityData.data as { property: number; value: number }[])
    m.set(p.property, p.value)
  return m
}

/** TPM2_FlushContext of a transient object or session. */
export async function flush(tpm: Tpm, handle: number): Promise<void> {
  await tpm.run(FlushContext, { flushHandle: handle })
}

/** TPM2_EvictControl: make a transient object persistent at `persistentHandle` (owner auth). */
export async function persistObject(
  tpm: Tpm,
  transient: number,
  persistentHandle: number,
  ownerAuth?: Uint8Array,
): Promise<void> {
  checkPersistent(persistentHandle)
  await tpm.run(
    EvictControl,
    { auth: TPM_RH.OWNER, objectHandle: transient, persistentHandle },
    ownerAuth ? { sessions: [new PasswordSession(ownerAuth)] } : {},
  )
}

/** TPM2_EvictControl on a persistent handle: remove it (owner auth). */
export async function evictPersistent(
  tpm: Tpm,
  persistentHandle: number,
  ownerAuth?: Uint8Array,
): Promise<void> {
  checkPersistent(persistentHandle)
  await tpm.run(
    EvictControl,
    { auth: TPM_RH.OWNER, objectHandle: persistentHandle, persistentHandle },
    ownerAuth ? { sessions: [new PasswordSession(ownerAuth)] } : {},
  )
}

function checkPersistent(h: number): void {
  if (h >>> 24 !== TPM_HT.PERSISTENT)
    throw new TpmError(
      'ERR_TPM_ARG',
      `0x${(h >>> 0).toString(16)} is not a persistent handle (0x81xxxxxx)`,
    )
}
