/**
 * The command layer: marshals any declared command (Part 1 §18 command/response structure),
 * builds the authorization area, checks response HMACs and parameter encryption, and decodes the
 * response with no trailing bytes allowed.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash } from 'node:crypto'
import { TPMA_SESSION, TPM_ALG, TPM_HT, TPM_RC, TPM_ST } from './constants.js'
import { TpmDecodeError, TpmError, TpmResponseError } from './errors.js'
import type { CommandArgs, CommandDef, CommandResult } from './commands/command.js'
import { NV_ReadPublic, ReadPublic } from './commands/commands.js'
import { Reader, Writer, decodeUnknown, encodeUnknown } from './marshal/codec.js'
import type { Members } from './marshal/dsl.js'
import { PasswordSession, type AuthEntry, type AuthSession } from './session/session.js'
import { Queue, type Transport } from './transports/transport.js'

export interface RunOptions {
  /** sessions for the auth handles, in order, then optional encrypt/decrypt-only sessions;
   *  missing ones are empty password sessions */
  readonly sessions?: readonly AuthSession[]
  readonly signal?: AbortSignal
  /** known Names of handles (e.g. from Load), saving a ReadPublic when a session needs cpHash */
  readonly names?: ReadonlyMap<number, Uint8Array>
}

const lockOwner = new AsyncLocalStorage<Tpm>()

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/** A TPM reached through one transport. */
export class Tpm {
  readonly transport: Transport
  readonly #lock = new Queue()
  /** count of commands sent (benchmarks report TPM commands per operation) */
  commandCount = 0
  constructor(transport: Transport) {
    this.transport = transport
  }

  /**
   * Run `fn` with exclusive use of the TPM: multi-command operations (load, use, flush) must not
   * interleave, since swtpm has only 3 transient object slots. Re-entrant within one operation.
   */
  lock<T>(fn: () => Promise<T>): Promise<T> {
    if (lockOwner.getStore() === this) return fn()
    return this.#lock.run(() => lockOwner.run(this, fn))
  }

  /** Send a declared command and decode its response. Throws TpmResponseError on a non-zero RC. */
  async run<C>(
    command: C & CommandDef,
    args: CommandArgs<C>,
    o: RunOptions = {},
  ): Promise<CommandResult<C>> {
    return (await this.runUnknown(command, args, o)) as CommandResult<C>
  }

  /**
   * `run` without the static types, for generic callers. TPM_RC_RETRY, YIELDED and TESTING
   * (Part 2 §6.6.3 warnings: "the TPM is busy, try again") are retried with a short backoff.
   */
  async runUnknown(cmd: CommandDef, args: unknown, o: RunOptions = {}): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#runOnce(cmd, args, o)
      } catch (e) {
        const busy =
          e instanceof TpmResponseError &&
          (e.rc === TPM_RC.RETRY || e.rc === TPM_RC.YIELDED || e.rc === TPM_RC.TESTING)
        if (!busy || attempt >= 50) throw e
        await new Promise((r) => setTimeout(r, Math.min(5 * (attempt + 1), 100)))
      }
    }
  }

  async #runOnce(cmd: CommandDef, args: unknown, o: RunOptions): Promise<unknown> {
    const a = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>
    const handleNames = Object.keys(cmd.handles)
    const authCount = Object.values(cmd.handles).filter((r) => r === 'auth').length
    const sessions: AuthSession[] = [...(o.sessions ?? [])]
    while (sessions.length < authCount) sessions.push(new PasswordSession())
    if (sessions.length > 3) throw new TpmError('ERR_TPM_ARG', 'at most 3 sessions per command')

    const handles = handleNames.map((n) => {
      const h = a[n]
      if (typeof h !== 'number')
        throw new TpmError('ERR_TPM_ARG', `${cmd.name}: handle ${n} missing`)
      return h >>> 0
    })
    for (const s of sessions) s.newNonce()
    let params = encodeUnknown(cmd.params, args)
    // Part 1 §18.7/§21: decrypt/encrypt may only be set when the first command/response parameter
    // is a TPM2B (else TPM_RC_ATTRIBUTES), so a session's request is narrowed per command
    const canDecrypt = firstIsTpm2b(cmd.params.members)
    const canEncrypt = firstIsTpm2b(cmd.response.members)
    const mask =
      0xff & ~((canDecrypt ? 0 : TPMA_SESSION.decrypt) | (canEncrypt ? 0 : TPMA_SESSION.encrypt))
    const decryptSession = canDecrypt
      ? sessions.find((s) => (sessionAttrs(s) & TPMA_SESSION.decrypt) !== 0)
      : undefined
    const encryptSession = canEncrypt
      ? sessions.find((s) => (sessionAttrs(s) & TPMA_SESSION.encrypt) !== 0)
      : undefined
    if (decryptSession?.encryptCommand) {
      const clear = params
      params = this.#cryptFirst(
        cmd.params.members,
        params,
        (d) => decryptSession.encryptCommand!(d),
        cmd.name,
      )
      clear.fill(0) // SECURITY: do not leave the clear-text parameter (e.g. a key to seal) in memory
    }

    let cpHash: Uint8Array | undefined
    if (sessions.some((s) => s.needsCpHash)) {
      const names = await Promise.all(handles.map((h) => o.names?.get(h) ?? this.nameOf(h)))
      cpHash = createHash('sha256')
        .update(u32be(cmd.cc))
        .update(Buffer.concat(names))
        .update(params)
        .digest()
    }

    const w = new Writer()
    const body = new Writer()
    for (const h of handles) body.uint(4, h)
    if (sessions.length > 0) {
      const auth = new Writer()
      for (const s of sessions) {
        const e = s.commandAuth(cpHash, mask)
        auth.uint(4, s.handle)
        auth.uint(2, e.nonceCaller.length)
        auth.bytes(e.nonceCaller)
        auth.uint(1, e.attributes)
        auth.uint(2, e.hmac.length)
        auth.bytes(e.hmac)
      }
      const area = auth.finish()
      body.uint(4, area.length)
      body.bytes(area)
    }
    body.bytes(params)
    const b = body.finish()
    w.uint(2, sessions.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS)
    w.uint(4, 10 + b.length)
    w.uint(4, cmd.cc)
    w.bytes(b)
    this.commandCount++
    const resp = await this.transport.send(w.finish(), o.signal)
    return this.#parse(cmd, resp, sessions, encryptSession)
  }

  #parse(
    cmd: CommandDef,
    resp: Uint8Array,
    sessions: AuthSession[],
    encryptSession: AuthSession | undefined,
  ): unknown {
    const r = new Reader(resp)
    const tag = r.u16()
    const size = r.u32()
    if (size !== resp.length)
      throw new TpmDecodeError(
        `${cmd.name}: response size field ${size} != ${resp.length} bytes received`,
        2,
      )
    const rc = r.u32()
    if (rc !== 0) {
      if (tag !== TPM_ST.NO_SESSIONS || size !== 10)
        throw new TpmDecodeError(`${cmd.name}: malformed error response`, 0)
      throw new TpmResponseError(cmd.name, rc)
    }
    const expectTag = sessions.length > 0 ? TPM_ST.SESSIONS : TPM_ST.NO_SESSIONS
    if (tag !== expectTag)
      throw new TpmDecodeError(`${cmd.name}: unexpected response tag 0x${tag.toString(16)}`, 0)
    const out: Record<string, unknown> = {}
    for (const n of cmd.responseHandles) out[n] = r.u32()
    let params: Uint8Array
    const entries: AuthEntry[] = []
    if (sessions.length > 0) {
      const at = r.pos
      const paramSize = r.u32()
      if (paramSize > r.remaining())
        throw new TpmDecodeError(`${cmd.name}: parameterSize ${paramSize} exceeds the response`, at)
      params = r.take(paramSize)
      for (let i = 0; i < sessions.length; i++) {
        const nonce = r.take(readSize(r, 64))
        const attributes = r.u8()
        const hmac = r.take(readSize(r, 64))
        entries.push({ nonceCaller: nonce, attributes, hmac })
      }
      if (r.remaining() !== 0)
        throw new TpmDecodeError(`${cmd.name}: ${r.remaining()} trailing bytes`, r.pos)
      const needRp = sessions.some((s) => s.needsCpHash)
      const rpHash = needRp
        ? createHash('sha256').update(u32be(0)).update(u32be(cmd.cc)).update(params).digest()
        : undefined
      sessions.forEach((s, i) => s.responseAuth(rpHash, entries[i]!))
    } else {
      params = r.take(r.remaining())
    }
    if (encryptSession?.decryptResponse) {
      const clear = this.#cryptFirst(
        cmd.response.members,
        params,
        (d) => encryptSession.decryptResponse!(d),
        cmd.name,
      )
      try {
        Object.assign(out, decodeUnknown(cmd.response, clear) as object) // decode copies
      } finally {
        clear.fill(0) // SECURITY: only the caller's decoded copy of e.g. an unsealed key remains
      }
      return out
    }
    Object.assign(out, decodeUnknown(cmd.response, params) as object)
    return out
  }

  /** Part 1 §21.1: only the buffer of a first parameter that is a TPM2B is encrypted. */
  #cryptFirst(
    members: Members,
    params: Uint8Array,
    fn: (d: Uint8Array) => Uint8Array,
    name: string,
  ): Uint8Array {
    const first = Object.values(members)[0]
    if (
      first === undefined ||
      !(first.kind === 'sized' || (first.kind === 'bytes' && first.prefix === 2))
    )
      throw new TpmError(
        'ERR_TPM_ARG',
        `${name}: first parameter is not a TPM2B; it cannot be encrypted`,
      )
    if (params.length < 2) throw new TpmDecodeError(`${name}: missing first parameter`, 0)
    const n = (params[0]! << 8) | params[1]!
    if (2 + n > params.length)
      throw new TpmDecodeError(`${name}: first parameter overruns the parameters`, 0)
    const out = Uint8Array.from(params)
    out.set(fn(params.subarray(2, 2 + n)), 2)
    return out
  }

  /** Part 1 §16: the Name of an entity (u32 handle for permanent entities, nameAlg || H(public) otherwise). */
  async nameOf(handle: number): Promise<Uint8Array> {
    const ht = handle >>> 24
    if (ht === TPM_HT.TRANSIENT || ht === TPM_HT.PERSISTENT)
      return (await this.run(ReadPublic, { objectHandle: handle })).name
    if (ht === TPM_HT.NV_INDEX) return (await this.run(NV_ReadPublic, { nvIndex: handle })).nvName
    return u32be(handle)
  }
}

function readSize(r: Reader, max: number): number {
  const at = r.pos
  const n = r.u16()
  if (n > max) throw new TpmDecodeError(`session field of ${n} bytes exceeds ${max}`, at)
  return n
}

function firstIsTpm2b(members: Members): boolean {
  const first = Object.values(members)[0]
  return (
    first !== undefined &&
    (first.kind === 'sized' || (first.kind === 'bytes' && first.prefix === 2))
  )
}

function sessionAttrs(s: AuthSession): number {
  return 'attributes' in s && typeof s.attributes === 'number' ? s.attributes : 0
}

/** Name of an object from its marshalled TPMT_PUBLIC (Part 1 §16): nameAlg || H(publicArea). */
export function objectName(publicArea: Uint8Array): Uint8Array {
  if (publicArea.length < 4) throw new TpmDecodeError('public area too short', 0)
  const nameAlg = (publicArea[2]! << 8) | publicArea[3]!
  if (nameAlg !== TPM_ALG.SHA256)
    throw new TpmError('ERR_TPM_ALG', 'only SHA-256 names are supported')
  return Buffer.concat([
    publicArea.subarray(2, 4),
    createHash('sha256').update(publicArea).digest(),
  ])
}
