import { createHash, randomBytes } from 'node:crypto'
import { HostError } from '../errors.js'
import type { TpmTransport } from './transport.js'

/**
 * A minimal TPM 2.0 client for the host agent: the dozen commands the agent needs (startup,
 * PCRs, seal/unseal under PolicyPCR). Command codes and structures: TPM 2.0 Library Part 2/3
 * (rev 1.59). To be replaced by @ward/tpm2 once its seal/unseal with a salted, parameter-encrypted
 * session lands (see README: until then the unsealed archive key crosses the TPM bus in clear).
 */
const ST_NO_SESSIONS = 0x8001
const ST_SESSIONS = 0x8002
/** TPM_CC values, Part 2 §6.5.2 */
export const CC = {
  Startup: 0x144,
  Shutdown: 0x145,
  PCR_Extend: 0x182,
  PCR_Read: 0x17e,
  CreatePrimary: 0x131,
  Create: 0x153,
  Load: 0x157,
  StartAuthSession: 0x176,
  PolicyPCR: 0x17f,
  Unseal: 0x15e,
  FlushContext: 0x165,
} as const
const RS_PW = 0x40000009
const RH_OWNER = 0x40000001
const RH_NULL = 0x40000007
const ALG_SHA256 = 0x000b
const ALG_NULL = 0x0010
/** TPM_RC_INITIALIZE: TPM2_Startup not yet run (Part 2 §6.6.3). */
export const RC_INITIALIZE = 0x100

/** A TPM error response, with the raw RC and its format-1 base (handle/parameter/session bits stripped). */
export class TpmRcError extends HostError {
  readonly rc: number
  readonly base: number
  constructor(command: string, rc: number) {
    super('ERR_HOST_TPM_RC', `TPM2_${command} failed: TPM_RC 0x${rc.toString(16)}`, { rc })
    this.rc = rc
    this.base = rc & 0x80 ? rc & 0xbf : rc
  }
}

/** A sealed data object as TPM2_Create returns it (TPM2B_PUBLIC, TPM2B_PRIVATE, marshalled). */
export interface SealedObject {
  readonly public: Buffer
  readonly private: Buffer
}

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}
const tpm2b = (data: Uint8Array): Buffer => Buffer.concat([u16(data.length), data])
/** Password authorization with an empty password (TPMS_AUTH_COMMAND, Part 2 §10.13.2). */
const PW_AUTH = Buffer.concat([u32(9), u32(RS_PW), u16(0), Buffer.from([0]), u16(0)])

/** TPML_PCR_SELECTION with one sha256 bank (Part 2 §10.9.7). */
export function pcrSelection(pcrs: readonly number[]): Buffer {
  const bits = Buffer.alloc(3)
  for (const p of pcrs) bits[p >> 3]! |= 1 << (p & 7)
  return Buffer.concat([u32(1), u16(ALG_SHA256), Buffer.from([3]), bits])
}

/**
 * PolicyPCR digest as the TPM computes it (Part 3 §23.7): starting from 32 zero bytes,
 * H(old || TPM_CC_PolicyPCR || pcrs || H(selected PCR values in ascending order)).
 */
export function policyPcrDigest(
  pcrs: readonly number[],
  values: ReadonlyMap<number, Uint8Array>,
): Buffer {
  const sorted = [...pcrs].sort((a, b) => a - b)
  const h = createHash('sha256')
  for (const p of sorted) {
    const v = values.get(p)
    if (!v) throw new HostError('ERR_HOST_TPM_PROTOCOL', `PCR ${p} value missing`)
    h.update(v)
  }
  return createHash('sha256')
    .update(Buffer.alloc(32))
    .update(u32(CC.PolicyPCR))
    .update(pcrSelection(sorted))
    .update(h.digest())
    .digest()
}

export class TpmClient {
  readonly transport: TpmTransport
  /** TPM commands sent since creation (the benchmark reports it per boot). */
  commands = 0

  constructor(transport: TpmTransport) {
    this.transport = transport
  }

  /** Send one command; returns the response handles and parameter area. */
  async run(
    name: keyof typeof CC,
    handles: readonly number[],
    auth: Buffer | undefined,
    params: Buffer,
    responseHandles = 0,
  ): Promise<{ handles: number[]; params: Buffer }> {
    const body = Buffer.concat([...handles.map(u32), auth ?? Buffer.alloc(0), params])
    const cmd = Buffer.concat([
      u16(auth ? ST_SESSIONS : ST_NO_SESSIONS),
      u32(10 + body.length),
      u32(CC[name]),
      body,
    ])
    this.commands++
    const r = await this.transport.send(cmd)
    if (r.length < 10 || r.readUInt32BE(2) !== r.length)
      throw new HostError('ERR_HOST_TPM_PROTOCOL', `malformed TPM response to ${name}`)
    const rc = r.readUInt32BE(6)
    if (rc !== 0) throw new TpmRcError(name, rc)
    let off = 10
    const outHandles: number[] = []
    for (let i = 0; i < responseHandles; i++) {
      if (off + 4 > r.length) throw new HostError('ERR_HOST_TPM_PROTOCOL', `short ${name} response`)
      outHandles.push(r.readUInt32BE(off))
      off += 4
    }
    if (r.readUInt16BE(0) === ST_SESSIONS) {
      if (off + 4 > r.length) throw new HostError('ERR_HOST_TPM_PROTOCOL', `short ${name} response`)
      const size = r.readUInt32BE(off)
      off += 4
      if (off + size > r.length)
        throw new HostError('ERR_HOST_TPM_PROTOCOL', `bad ${name} parameter size`)
      return { handles: outHandles, params: r.subarray(off, off + size) }
    }
    return { handles: outHandles, params: r.subarray(off) }
  }

  /** TPM2_Startup(CLEAR), Part 3 §9.3 */
  async startup(): Promise<void> {
    await this.run('Startup', [], undefined, u16(0))
  }

  /** TPM2_Shutdown(CLEAR), Part 3 §9.4 */
  async shutdown(): Promise<void> {
    await this.run('Shutdown', [], undefined, u16(0))
  }

  /** TPM2_PCR_Extend of one sha256 digest, Part 3 §22.2 */
  async pcrExtend(pcr: number, digest: Uint8Array): Promise<void> {
    await this.run('PCR_Extend', [pcr], PW_AUTH, Buffer.concat([u32(1), u16(ALG_SHA256), digest]))
  }

  /** TPM2_PCR_Read of sha256 PCRs, Part 3 §22.4 (at most 8 digests per call, so chunked). */
  async pcrRead(pcrs: readonly number[]): Promise<Map<number, Buffer>> {
    const out = new Map<number, Buffer>()
    const want = [...new Set(pcrs)].sort((a, b) => a - b)
    for (let i = 0; i < want.length; i += 8) {
      const chunk = want.slice(i, i + 8)
      const { params: p } = await this.run('PCR_Read', [], undefined, pcrSelection(chunk))
      const bad = (): HostError =>
        new HostError('ERR_HOST_TPM_PROTOCOL', 'malformed PCR_Read response')
      if (p.length < 8) throw bad()
      let off = 4
      const count = p.readUInt32BE(off)
      off += 4
      const got: number[] = []
      for (let s = 0; s < count; s++) {
        if (off + 3 > p.length) throw bad()
        const alg = p.readUInt16BE(off)
        const size = p[off + 2]!
        off += 3
        if (off + size > p.length || size > 4) throw bad()
        for (let b = 0; b < size * 8; b++)
          if (alg === ALG_SHA256 && p[off + (b >> 3)]! & (1 << (b & 7))) got.push(b)
        off += size
      }
      if (off + 4 > p.length) throw bad()
      const n = p.readUInt32BE(off)
      off += 4
      if (n !== got.length) throw bad()
      for (const pcr of got) {
        if (off + 2 > p.length) throw bad()
        const len = p.readUInt16BE(off)
        if (len !== 32 || off + 2 + len > p.length) throw bad()
        out.set(pcr, Buffer.from(p.subarray(off + 2, off + 2 + len)))
        off += 2 + len
      }
    }
    for (const pcr of want)
      if (!out.has(pcr))
        throw new HostError('ERR_HOST_TPM_PROTOCOL', `TPM did not return PCR ${pcr}`)
    return out
  }

  /**
   * TPM2_CreatePrimary of the SRK-style storage key (ECC P-256, AES-128-CFB, owner hierarchy,
   * Part 3 §24.1; template as tpm2_createprimary -G ecc256:aes128cfb). Same seed, same key.
   */
  async createPrimary(): Promise<number> {
    const attrs = 0x00030472 // fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|noDA|restricted|decrypt
    const publicArea = Buffer.concat([
      u16(0x0023), // TPM_ALG_ECC
      u16(ALG_SHA256),
      u32(attrs),
      u16(0), // authPolicy
      u16(0x0006),
      u16(128),
      u16(0x0043), // symmetric AES-128-CFB
      u16(ALG_NULL), // scheme
      u16(0x0003), // TPM_ECC_NIST_P256
      u16(ALG_NULL), // kdf
      u16(0),
      u16(0), // unique x, y
    ])
    const params = Buffer.concat([
      tpm2b(Buffer.concat([u16(0), u16(0)])),
      tpm2b(publicArea),
      u16(0),
      u32(0),
    ])
    const { handles } = await this.run('CreatePrimary', [RH_OWNER], PW_AUTH, params, 1)
    return handles[0]!
  }

  /** TPM2_Create of a sealed data object bound to `policyDigest` (no userWithAuth: policy only). */
  async createSealed(
    parent: number,
    data: Uint8Array,
    policyDigest: Uint8Array,
  ): Promise<SealedObject> {
    const attrs = 0x00000412 // fixedTPM|fixedParent|noDA
    const publicArea = Buffer.concat([
      u16(0x0008), // TPM_ALG_KEYEDHASH
      u16(ALG_SHA256),
      u32(attrs),
      tpm2b(policyDigest),
      u16(ALG_NULL), // scheme
      u16(0), // unique
    ])
    const sensitive = tpm2b(Buffer.concat([u16(0), tpm2b(data)]))
    try {
      const { params: p } = await this.run(
        'Create',
        [parent],
        PW_AUTH,
        Buffer.concat([sensitive, tpm2b(publicArea), u16(0), u32(0)]),
      )
      sensitive.fill(0)
      const privLen = p.readUInt16BE(0)
      const priv = p.subarray(0, 2 + privLen)
      const pubLen = p.readUInt16BE(2 + privLen)
      const pub = p.subarray(2 + privLen, 4 + privLen + pubLen)
      return { public: Buffer.from(pub), private: Buffer.from(priv) }
    } catch (e) {
      sensitive.fill(0)
      throw e
    }
  }

  /** TPM2_Load, Part 3 §12.2 */
  async load(parent: number, obj: SealedObject): Promise<number> {
    const { handles } = await this.run(
      'Load',
      [parent],
      PW_AUTH,
      Buffer.concat([obj.private, obj.public]),
      1,
    )
    return handles[0]!
  }

  /** TPM2_StartAuthSession of an unbound, unsalted policy session, Part 3 §11.1 */
  async startPolicySession(): Promise<number> {
    const params = Buffer.concat([
      tpm2b(randomBytes(16)),
      u16(0),
      Buffer.from([0x01]),
      u16(ALG_NULL),
      u16(ALG_SHA256),
    ])
    const { handles } = await this.run('StartAuthSession', [RH_NULL, RH_NULL], undefined, params, 1)
    return handles[0]!
  }

  /** TPM2_PolicyPCR with an empty pcrDigest (the TPM uses the current values), Part 3 §23.7 */
  async policyPcr(session: number, pcrs: readonly number[]): Promise<void> {
    await this.run('PolicyPCR', [session], undefined, Buffer.concat([u16(0), pcrSelection(pcrs)]))
  }

  /** TPM2_Unseal under a policy session (continueSession clear: the TPM flushes it), Part 3 §12.7 */
  async unseal(item: number, session: number): Promise<Buffer> {
    const auth = Buffer.concat([
      u32(4 + 2 + 16 + 1 + 2),
      u32(session),
      tpm2b(randomBytes(16)),
      Buffer.from([0]),
      u16(0),
    ])
    const { params: p } = await this.run('Unseal', [item], auth, Buffer.alloc(0))
    if (p.length < 2 || p.readUInt16BE(0) + 2 > p.length)
      throw new HostError('ERR_HOST_TPM_PROTOCOL', 'malformed Unseal response')
    const out = Buffer.from(p.subarray(2, 2 + p.readUInt16BE(0)))
    p.fill(0)
    return out
  }

  /** TPM2_FlushContext, Part 3 §28.4 (swtpm has no resource manager: flush what we load). */
  async flush(handle: number): Promise<void> {
    await this.run('FlushContext', [], undefined, u32(handle))
  }
}
