import { availableParallelism, totalmem } from 'node:os'
import { EnvelopeError } from '../errors.js'
import { argon2Derive } from '../kdf/argon2.js'
import { pbkdf2Derive, type Pbkdf2Hash } from '../kdf/pbkdf2.js'
import { isJsonObject } from './metadata.js'

/*
 * The KDF of a luks2 keyslot (LUKS2 spec §3.3 "kdf"; cryptsetup luks2_keyslot_luks2.c and
 * utils_pbkdf.c): pbkdf2 {hash, iterations, salt} or argon2i/argon2id {time, memory (KiB), cpus,
 * salt}. A header is hostile input: every parameter is checked here, before a byte of KDF memory
 * is allocated or an iteration run, and the work of one passphrase attempt is bounded in total.
 */

/** A keyslot KDF as read from a header, validated. */
export type KeyslotKdf =
  | {
      readonly type: 'pbkdf2'
      readonly hash: Pbkdf2Hash
      readonly iterations: number
      readonly salt: Uint8Array
    }
  | {
      readonly type: 'argon2i' | 'argon2id'
      /** Passes over the memory (cryptsetup "Time cost"). */
      readonly time: number
      /** KiB. */
      readonly memory: number
      /** Lanes (cryptsetup "Threads"). */
      readonly cpus: number
      readonly salt: Uint8Array
    }

/**
 * Bounds on KDF parameters read from a header. LUKS2 salts are 32 bytes (cryptsetup
 * LUKS_SALTSIZE); argon2 memory as cryptsetup allows it (at most 4 GiB, at least 8 KiB per lane,
 * RFC 9106); lanes 1..16 (cryptsetup writes at most 4).
 */
export const LUKS2_KDF_LIMITS = {
  saltBytes: 32,
  pbkdf2MaxIterations: 20_000_000,
  argon2MaxMemoryKiB: 4 * 1048576,
  argon2MaxTime: 1_000_000,
  argon2MaxCpus: 16,
} as const

/**
 * Estimated cost of KDF work, in nanoseconds of one core of the reference machine: one PBKDF2
 * iteration of one output block, and one argon2 pass over 1 KiB of memory. A model, not a
 * measurement of the running host: it turns a keyslot's parameters into work to bound before any
 * is done (where and how these were measured: bench/README.md, "Figures from source comments").
 */
export const KDF_COST_NS = {
  pbkdf2: { sha1: 120, sha256: 120, sha512: 400 },
  argon2KiBPass: 1000,
} as const satisfies {
  pbkdf2: Record<Pbkdf2Hash, number>
  argon2KiBPass: number
}

/**
 * Bound on the estimated KDF work of one passphrase attempt, summed over the keyslots it tries
 * (each keyslot's KDF plus its digest's PBKDF2): 60 s of one reference core, several times what a
 * default `cryptsetup luksFormat` keyslot or Ward's default argon2id keyslot costs (their
 * figures: bench/README.md, "Figures from source comments").
 */
export const KDF_ATTEMPT_BUDGET_NS = 60e9

const HASH_LEN: Readonly<Record<Pbkdf2Hash, number>> = { sha1: 20, sha256: 32, sha512: 64 }

const bad = (where: string, what: string): EnvelopeError =>
  new EnvelopeError(
    'ERR_LUKS2_KDF_PARAMS',
    `${where}: ${what}; the header was altered or comes from a tool Ward does not follow (restore the header from a backup, or open with another keyslot or the KEK)`,
  )

function int(
  kdf: Record<string, unknown>,
  key: string,
  where: string,
  lo: number,
  hi: number,
): number {
  const v = kdf[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi)
    throw bad(where, `kdf.${key} must be an integer in ${lo}..${hi}`)
  return v
}

function salt(kdf: Record<string, unknown>, where: string): Uint8Array {
  const v = kdf.salt
  const n = LUKS2_KDF_LIMITS.saltBytes
  // base64 of 32 bytes is 44 characters: check the text before decoding anything
  if (typeof v !== 'string' || v.length !== 44 || !/^[A-Za-z0-9+/]{43}=$/.test(v))
    throw bad(where, `kdf.salt must be base64 of ${n} bytes`)
  const out = new Uint8Array(Buffer.from(v, 'base64'))
  if (out.length !== n) throw bad(where, `kdf.salt must be base64 of ${n} bytes`)
  return out
}

/** Validate a keyslot's `kdf` object (ERR_LUKS2_KDF_PARAMS); allocates nothing but the salt. */
export function parseKeyslotKdf(kdf: unknown, where: string): KeyslotKdf {
  if (!isJsonObject(kdf)) throw bad(where, 'kdf must be an object')
  const type = kdf.type
  const L = LUKS2_KDF_LIMITS
  if (type === 'pbkdf2') {
    const hash = kdf.hash
    if (hash !== 'sha1' && hash !== 'sha256' && hash !== 'sha512')
      throw bad(where, `kdf.hash must be sha1, sha256 or sha512`)
    const iterations = int(kdf, 'iterations', where, 1, L.pbkdf2MaxIterations)
    return { type, hash, iterations, salt: salt(kdf, where) }
  }
  if (type === 'argon2i' || type === 'argon2id') {
    const cpus = int(kdf, 'cpus', where, 1, L.argon2MaxCpus)
    const memory = int(kdf, 'memory', where, 8 * cpus, L.argon2MaxMemoryKiB)
    const time = int(kdf, 'time', where, 1, L.argon2MaxTime)
    return { type, time, memory, cpus, salt: salt(kdf, where) }
  }
  throw bad(
    where,
    `kdf type '${typeof type === 'string' ? type.slice(0, 16) : typeof type}' is unknown (pbkdf2, argon2i, argon2id)`,
  )
}

/** PBKDF2 work of `iterations` producing `length` bytes with `hash`, in reference nanoseconds. */
export const pbkdf2Work = (hash: Pbkdf2Hash, iterations: number, length: number): number =>
  iterations * Math.ceil(length / HASH_LEN[hash]) * KDF_COST_NS.pbkdf2[hash]

/** Estimated work of deriving `length` bytes with `kdf`, in reference nanoseconds. */
export function kdfWork(kdf: KeyslotKdf, length: number): number {
  return kdf.type === 'pbkdf2'
    ? pbkdf2Work(kdf.hash, kdf.iterations, length)
    : kdf.memory * kdf.time * KDF_COST_NS.argon2KiBPass
}

/** Refuse an argon2 keyslot that needs more memory than this host has (before allocating it). */
export function checkKdfFitsHost(kdf: KeyslotKdf, where: string): void {
  if (kdf.type !== 'pbkdf2' && kdf.memory * 1024 > totalmem())
    throw new EnvelopeError(
      'ERR_LUKS2_KDF_PARAMS',
      `${where}: argon2 needs ${Math.ceil(kdf.memory / 1024)} MiB of memory, more than this host has (${Math.floor(totalmem() / 1048576)} MiB); open it on a larger host or with the KEK`,
    )
}

/** Derive the keyslot area key (off the event loop); the caller zeroes it. */
export function deriveKeyslotKey(
  kdf: KeyslotKdf,
  passphrase: Uint8Array,
  length: number,
): Promise<Uint8Array> {
  return kdf.type === 'pbkdf2'
    ? pbkdf2Derive(passphrase, kdf.salt, kdf.iterations, length, kdf.hash)
    : argon2Derive(
        kdf.type,
        passphrase,
        kdf.salt,
        { memory: kdf.memory, passes: kdf.time, parallelism: kdf.cpus },
        length,
      )
}

/** The `kdf` JSON object of a keyslot (LUKS2 spec §3.3 field names). */
export function kdfJson(kdf: KeyslotKdf): Record<string, unknown> {
  const s = Buffer.from(kdf.salt).toString('base64')
  return kdf.type === 'pbkdf2'
    ? { type: 'pbkdf2', hash: kdf.hash, iterations: kdf.iterations, salt: s }
    : { type: kdf.type, time: kdf.time, memory: kdf.memory, cpus: kdf.cpus, salt: s }
}

// ---- new keyslots ---------------------------------------------------------------------------

/** How Ward makes a new passphrase keyslot (flags `--pbkdf`, `--pbkdf-memory`, ...). */
export interface KeyslotKdfOptions {
  /** Default argon2id. */
  readonly type?: 'argon2id' | 'argon2i' | 'pbkdf2'
  /** argon2 memory in KiB (default 1048576, or half the host's memory if that is less). */
  readonly memory?: number
  /** argon2 passes (default 4) or PBKDF2-SHA256 iterations (default 600000). */
  readonly iterations?: number
  /** argon2 lanes (default min(4, CPUs)). */
  readonly parallelism?: number
}

/**
 * Defaults of a new keyslot. argon2id with cryptsetup's maximum default memory (1 GiB,
 * DEFAULT_LUKS2_MEMORY_KB, capped at half the physical memory as cryptsetup does), its minimum
 * passes (4) and lanes (min(4, CPUs), DEFAULT_LUKS2_PARALLEL_THREADS): never weaker than what
 * cryptsetup's 2-second calibration picks on a host that needs 2 s or more for 1 GiB x 4 passes
 * (it then lowers the memory, Ward does not). PBKDF2-SHA256: 600000 iterations (OWASP 2023).
 */
export const WARD_KDF_DEFAULTS = {
  type: 'argon2id',
  memory: 1048576,
  passes: 4,
  maxParallelism: 4,
  pbkdf2Iterations: 600_000,
} as const

/** Bounds on the parameters of a keyslot Ward writes: cryptsetup's (utils_pbkdf.c) where it has one. */
export const NEW_KEYSLOT_LIMITS = {
  argon2MinMemoryKiB: 32,
  argon2MaxMemoryKiB: 4 * 1048576,
  argon2MinPasses: 4,
  argon2MaxParallelism: 4,
  pbkdf2MinIterations: 1000,
} as const

/** The default argon2 lanes on this host: min(4, CPUs). */
export const defaultParallelism = (): number =>
  Math.max(1, Math.min(WARD_KDF_DEFAULTS.maxParallelism, availableParallelism()))

/** The default argon2 memory on this host: 1 GiB, or half the physical memory if less. */
export const defaultMemoryKiB = (): number =>
  Math.max(
    NEW_KEYSLOT_LIMITS.argon2MinMemoryKiB,
    Math.min(WARD_KDF_DEFAULTS.memory, Math.floor(totalmem() / 2048)),
  )

const opt = (what: string): EnvelopeError =>
  new EnvelopeError('ERR_DISK_OPTIONS', `${what} (see ward crypto-util disk encrypt --help)`)

/**
 * The KDF parameters of a new keyslot (salt included), from options and defaults. Refuses
 * (ERR_DISK_OPTIONS) what cryptsetup would refuse to write, and a keyslot whose opening alone
 * would exceed the per-attempt bound.
 */
export function newKeyslotKdf(o: KeyslotKdfOptions, salt: Uint8Array): KeyslotKdf {
  const L = NEW_KEYSLOT_LIMITS
  const type = o.type ?? WARD_KDF_DEFAULTS.type
  const isInt = (n: number | undefined): boolean => n === undefined || Number.isSafeInteger(n)
  if (!isInt(o.memory) || !isInt(o.iterations) || !isInt(o.parallelism))
    throw opt('KDF memory, iterations and parallelism are integers')
  let kdf: KeyslotKdf
  if (type === 'pbkdf2') {
    if (o.memory !== undefined || o.parallelism !== undefined)
      throw opt('--pbkdf-memory and --pbkdf-parallel apply to argon2 only, not pbkdf2')
    const iterations = o.iterations ?? WARD_KDF_DEFAULTS.pbkdf2Iterations
    if (iterations < L.pbkdf2MinIterations || iterations > LUKS2_KDF_LIMITS.pbkdf2MaxIterations)
      throw opt(
        `PBKDF2 iterations must be ${L.pbkdf2MinIterations}..${LUKS2_KDF_LIMITS.pbkdf2MaxIterations}, got ${iterations}`,
      )
    kdf = { type, hash: 'sha256', iterations, salt }
  } else if (type === 'argon2id' || type === 'argon2i') {
    const cpus = o.parallelism ?? defaultParallelism()
    const memory = o.memory ?? defaultMemoryKiB()
    const time = o.iterations ?? WARD_KDF_DEFAULTS.passes
    if (cpus < 1 || cpus > L.argon2MaxParallelism)
      throw opt(`argon2 parallelism must be 1..${L.argon2MaxParallelism}, got ${cpus}`)
    if (memory < Math.max(L.argon2MinMemoryKiB, 8 * cpus) || memory > L.argon2MaxMemoryKiB)
      throw opt(
        `argon2 memory must be ${Math.max(L.argon2MinMemoryKiB, 8 * cpus)}..${L.argon2MaxMemoryKiB} KiB, got ${memory}`,
      )
    if (time < L.argon2MinPasses || time > LUKS2_KDF_LIMITS.argon2MaxTime)
      throw opt(
        `argon2 iterations must be ${L.argon2MinPasses}..${LUKS2_KDF_LIMITS.argon2MaxTime}, got ${time}`,
      )
    kdf = { type, time, memory, cpus, salt }
  } else throw opt(`unknown KDF '${String(type).slice(0, 16)}' (argon2id, argon2i or pbkdf2)`)
  if (kdfWork(kdf, 64) > KDF_ATTEMPT_BUDGET_NS)
    throw opt(
      `this keyslot would cost about ${Math.round(kdfWork(kdf, 64) / 1e9)} s of CPU per passphrase attempt, more than the ${KDF_ATTEMPT_BUDGET_NS / 1e9} s Ward spends on one (lower the iterations or memory)`,
    )
  return kdf
}
