/** NV indices (Part 3 §31): define, write and read in chunks, undefine, read public, counters. */
import {
  NV_DefineSpace,
  NV_Increment,
  NV_Read,
  NV_ReadPublic,
  NV_UndefineSpace,
  NV_Write,
} from '../commands/commands.js'
import { TPMA_NV, TPM_HT, TPM_ALG, TPM_NT, TPM_RH, nvType } from '../constants.js'
import { TpmError } from '../errors.js'
import type { Infer } from '../marshal/dsl.js'
import { PasswordSession } from '../session/session.js'
import type { TPMS_NV_PUBLIC } from '../structures/public.js'
import type { Tpm } from '../tpm.js'

/** Bytes per NV_Read/NV_Write (TPM_PT_NV_BUFFER_MAX is 1024 on swtpm and most PC TPMs; stay below). */
export const NV_CHUNK = 512

/** Default attributes: owner and auth may read/write, no dictionary-attack lockout. */
export const NV_DEFAULT_ATTRIBUTES =
  TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA

/**
 * Monotonic counter (TPM_NT_COUNTER, 8 bytes): owner authorization increments and reads it, no
 * dictionary-attack lockout. Nothing but TPM2_NV_Increment changes its value, which never goes
 * down, not even across NV_UndefineSpace and a new definition (Part 1 §37.2.3: a new counter starts
 * at the largest value any counter of this TPM ever had).
 */
export const NV_COUNTER_ATTRIBUTES =
  nvType(TPM_NT.COUNTER) | TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.NO_DA

function checkIndex(index: number): void {
  if (index >>> 24 !== TPM_HT.NV_INDEX)
    throw new TpmError(
      'ERR_TPM_ARG',
      `0x${(index >>> 0).toString(16)} is not an NV index (0x01xxxxxx)`,
    )
}

export interface NvAuth {
  /** authorize with the owner hierarchy (default) or the index's own auth value */
  readonly with?: 'owner' | 'index'
  readonly auth?: Uint8Array
}

function authOf(index: number, a: NvAuth = {}): { handle: number; session: PasswordSession } {
  return { handle: a.with === 'index' ? index : TPM_RH.OWNER, session: new PasswordSession(a.auth) }
}

/** TPM2_NV_DefineSpace (owner auth) of an ordinary index of `size` bytes. */
export async function nvDefine(
  tpm: Tpm,
  index: number,
  size: number,
  o: { attributes?: number; auth?: Uint8Array; ownerAuth?: Uint8Array } = {},
): Promise<void> {
  checkIndex(index)
  if (!Number.isInteger(size) || size < 1 || size > 2048)
    throw new TpmError('ERR_TPM_ARG', 'NV size must be 1-2048 bytes')
  await tpm.run(
    NV_DefineSpace,
    {
      authHandle: TPM_RH.OWNER,
      auth: o.auth ?? new Uint8Array(0),
      publicInfo: {
        value: {
          nvIndex: index,
          nameAlg: TPM_ALG.SHA256,
          attributes: (o.attributes ?? NV_DEFAULT_ATTRIBUTES) >>> 0,
          authPolicy: new Uint8Array(0),
          dataSize: size,
        },
      },
    },
    { sessions: [new PasswordSession(o.ownerAuth)] },
  )
}

/** TPM2_NV_UndefineSpace (owner auth). */
export async function nvUndefine(
  tpm: Tpm,
  index: number,
  o: { ownerAuth?: Uint8Array } = {},
): Promise<void> {
  checkIndex(index)
  await tpm.run(
    NV_UndefineSpace,
    { authHandle: TPM_RH.OWNER, nvIndex: index },
    { sessions: [new PasswordSession(o.ownerAuth)] },
  )
}

/** TPM2_NV_ReadPublic. */
export async function nvReadPublic(
  tpm: Tpm,
  index: number,
): Promise<{ public: Infer<typeof TPMS_NV_PUBLIC>; name: Uint8Array }> {
  checkIndex(index)
  const r = await tpm.run(NV_ReadPublic, { nvIndex: index })
  return { public: r.nvPublic.value, name: r.nvName }
}

/** TPM2_NV_Write of `data` at `offset`, in chunks. */
export async function nvWrite(
  tpm: Tpm,
  index: number,
  data: Uint8Array,
  o: NvAuth & { offset?: number } = {},
): Promise<void> {
  checkIndex(index)
  const { handle, session } = authOf(index, o)
  const base = o.offset ?? 0
  await tpm.lock(async () => {
    for (let off = 0; off < data.length || (off === 0 && data.length === 0); off += NV_CHUNK) {
      await tpm.run(
        NV_Write,
        {
          authHandle: handle,
          nvIndex: index,
          data: data.subarray(off, off + NV_CHUNK),
          offset: base + off,
        },
        { sessions: [session] },
      )
      if (data.length === 0) break
    }
  })
}

/** TPM2_NV_Read of `size` bytes (default: the whole index) at `offset`, in chunks. */
export async function nvRead(
  tpm: Tpm,
  index: number,
  o: NvAuth & { offset?: number; size?: number } = {},
): Promise<Uint8Array> {
  checkIndex(index)
  const { handle, session } = authOf(index, o)
  return tpm.lock(async () => {
    const offset = o.offset ?? 0
    const size = o.size ?? (await nvReadPublic(tpm, index)).public.dataSize - offset
    if (size < 0) throw new TpmError('ERR_TPM_ARG', 'NV read offset beyond the index')
    const out = Buffer.alloc(size)
    for (let off = 0; off < size; off += NV_CHUNK) {
      const n = Math.min(NV_CHUNK, size - off)
      const r = await tpm.run(
        NV_Read,
        { authHandle: handle, nvIndex: index, size: n, offset: offset + off },
        { sessions: [session] },
      )
      if (r.data.length !== n)
        throw new TpmError('ERR_TPM_DECODE', `NV_Read returned ${r.data.length} bytes, asked ${n}`)
      out.set(r.data, off)
    }
    return out
  })
}

/** TPM2_NV_DefineSpace (owner auth) of a monotonic counter (8 bytes, `NV_COUNTER_ATTRIBUTES`). */
export async function nvDefineCounter(
  tpm: Tpm,
  index: number,
  o: { attributes?: number; ownerAuth?: Uint8Array } = {},
): Promise<void> {
  const attributes = o.attributes ?? NV_COUNTER_ATTRIBUTES
  if (((attributes >>> 4) & 0xf) !== TPM_NT.COUNTER)
    throw new TpmError('ERR_TPM_ARG', 'counter attributes must have TPM_NT_COUNTER in bits 4-7')
  await nvDefine(tpm, index, 8, { attributes, ...(o.ownerAuth ? { ownerAuth: o.ownerAuth } : {}) })
}

/** TPM2_NV_Increment of a counter index (its first increment sets TPMA_NV_WRITTEN). */
export async function nvIncrement(tpm: Tpm, index: number, o: NvAuth = {}): Promise<void> {
  checkIndex(index)
  const { handle, session } = authOf(index, o)
  await tpm.run(NV_Increment, { authHandle: handle, nvIndex: index }, { sessions: [session] })
}

/**
 * Read a counter's value (TPM2_NV_Read of its 8 big-endian bytes). A counter never incremented
 * fails with TPM_RC_NV_UNINITIALIZED.
 */
export async function nvReadCounter(tpm: Tpm, index: number, o: NvAuth = {}): Promise<bigint> {
  checkIndex(index)
  const { handle, session } = authOf(index, o)
  const r = await tpm.run(
    NV_Read,
    { authHandle: handle, nvIndex: index, size: 8, offset: 0 },
    { sessions: [session] },
  )
  if (r.data.length !== 8)
    throw new TpmError('ERR_TPM_DECODE', `NV_Read of a counter returned ${r.data.length} bytes`)
  return Buffer.from(r.data).readBigUInt64BE(0)
}
