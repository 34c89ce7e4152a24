/** Primary keys (SRK, EK, AK), create/load and reading public areas (Part 3 §12, §24). */
import { Create, CreatePrimary, Load, ReadPublic } from '../commands/commands.js'
import { TPM_HT, TPM_RC, TPM_RH } from '../constants.js'
import { TpmResponseError } from '../errors.js'
import type { Infer } from '../marshal/dsl.js'
import { TPMT_PUBLIC } from '../structures/public.js'
import { encode } from '../marshal/codec.js'
import { PasswordSession } from '../session/session.js'
import type { Tpm } from '../tpm.js'
import { flush } from './basic.js'
import {
  EK_ECC_TEMPLATE,
  EK_RSA_TEMPLATE,
  SRK_ECC_TEMPLATE,
  type PublicTemplate,
} from './templates.js'

export interface LoadedKey {
  readonly handle: number
  /** marshalled TPMT_PUBLIC as the TPM returned it */
  readonly publicBytes: Uint8Array
  readonly public: Infer<typeof TPMT_PUBLIC>
  readonly name: Uint8Array
  /** true for a transient handle the caller must flush */
  readonly transient: boolean
}

/** Conventional persistent handles (TCG Provisioning Guidance §7.8 / EK Credential Profile). */
export const PERSISTENT = { SRK: 0x81000001, EK_RSA: 0x81010001, EK_ECC: 0x81010002 } as const

/** TPM2_CreatePrimary under `hierarchy` (owner by default). The handle is transient: flush it. */
export async function createPrimary(
  tpm: Tpm,
  template: PublicTemplate,
  hierarchy: number = TPM_RH.OWNER,
  hierarchyAuth?: Uint8Array,
): Promise<LoadedKey> {
  const r = await tpm.run(
    CreatePrimary,
    {
      primaryHandle: hierarchy,
      inSensitive: { value: { userAuth: new Uint8Array(0), data: new Uint8Array(0) } },
      inPublic: { value: template },
      outsideInfo: new Uint8Array(0),
      creationPCR: [],
    },
    hierarchyAuth ? { sessions: [new PasswordSession(hierarchyAuth)] } : {},
  )
  return {
    handle: r.objectHandle,
    publicBytes: r.outPublic.bytes,
    public: r.outPublic.value,
    name: r.name,
    transient: true,
  }
}

/** TPM2_ReadPublic of a loaded or persistent object. */
export async function readPublic(tpm: Tpm, handle: number): Promise<LoadedKey> {
  const r = await tpm.run(ReadPublic, { objectHandle: handle })
  return {
    handle,
    publicBytes: r.outPublic.bytes,
    public: r.outPublic.value,
    name: r.name,
    transient: handle >>> 24 === TPM_HT.TRANSIENT,
  }
}

/**
 * The persistent key at `handle` when it exists and was made from `template` (same type,
 * attributes, policy and parameters: CreatePrimary is deterministic, so it is the very key
 * `make` would create); otherwise `make()`. A foreign key at a well-known handle is ignored.
 */
async function persistentOr(
  tpm: Tpm,
  handle: number | undefined,
  template: PublicTemplate,
  make: () => Promise<LoadedKey>,
): Promise<LoadedKey> {
  if (handle !== undefined) {
    try {
      const k = await readPublic(tpm, handle)
      const same =
        k.public.type === template.type &&
        Buffer.compare(
          encode(TPMT_PUBLIC, { ...k.public, unique: template.unique } as PublicTemplate),
          encode(TPMT_PUBLIC, template),
        ) === 0
      if (same) return k
    } catch (e) {
      if (!(e instanceof TpmResponseError && e.base === TPM_RC.HANDLE)) throw e
    }
  }
  return make()
}

export function withSrk<T>(
  tpm: Tpm,
  fn: (srk: LoadedKey) => Promise<T>,
  o: { persistent?: number | null } = {},
): Promise<T> {
  return withKey(
    tpm,
    () =>
      persistentOr(
        tpm,
        o.persistent === null ? undefined : (o.persistent ?? PERSISTENT.SRK),
        SRK_ECC_TEMPLATE,
        () => createPrimary(tpm, SRK_ECC_TEMPLATE),
      ),
    fn,
  )
}

/**
 * Run `fn` with the EK: RSA from persistent 0x81010001 when present, else re-created from
 * Template L-1; ECC re-created from Template L-2 (P-256). `o.handle` picks another persistent EK,
 * e.g. swtpm's P-384 EK at 0x81010016 whose certificate is in NV 0x01C00016.
 */
export function withEk<T>(
  tpm: Tpm,
  kind: 'rsa' | 'ecc',
  fn: (ek: LoadedKey) => Promise<T>,
  o: { handle?: number } = {},
): Promise<T> {
  const template = kind === 'rsa' ? EK_RSA_TEMPLATE : EK_ECC_TEMPLATE
  return withKey(
    tpm,
    () =>
      o.handle !== undefined
        ? readPublic(tpm, o.handle)
        : persistentOr(tpm, kind === 'rsa' ? PERSISTENT.EK_RSA : undefined, template, () =>
            createPrimary(tpm, template, TPM_RH.ENDORSEMENT),
          ),
    fn,
  )
}

/** Load or create a key, run `fn`, flush the key if transient (always, also on error). */
export function withKey<T>(
  tpm: Tpm,
  get: () => Promise<LoadedKey>,
  fn: (k: LoadedKey) => Promise<T>,
): Promise<T> {
  return tpm.lock(async () => {
    const k = await get()
    try {
      return await fn(k)
    } finally {
      if (k.transient) await flush(tpm, k.handle).catch(() => undefined)
    }
  })
}

/** TPM2_Create under a loaded parent: returns the blobs to store (load them later with `load`). */
export async function create(
  tpm: Tpm,
  parent: number,
  template: PublicTemplate,
  sensitiveData: Uint8Array = new Uint8Array(0),
): Promise<{ publicBytes: Uint8Array; privateBytes: Uint8Array }> {
  const r = await tpm.run(Create, {
    parentHandle: parent,
    inSensitive: { value: { userAuth: new Uint8Array(0), data: sensitiveData } },
    inPublic: { value: template },
    outsideInfo: new Uint8Array(0),
    creationPCR: [],
  })
  return { publicBytes: r.outPublic.bytes, privateBytes: r.outPrivate }
}

/** TPM2_Load; the returned handle is transient: flush it. */
export async function load(
  tpm: Tpm,
  parent: number,
  publicBytes: Uint8Array,
  privateBytes: Uint8Array,
): Promise<{ handle: number; name: Uint8Array }> {
  const r = await tpm.run(Load, {
    parentHandle: parent,
    inPrivate: privateBytes,
    inPublic: { bytes: publicBytes },
  })
  return { handle: r.objectHandle, name: r.name }
}
