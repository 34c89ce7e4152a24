import { argon2 } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/*
 * Argon2i / Argon2id (RFC 9106, version 0x13) from node:crypto (Node.js >= 24.7), on the libuv
 * thread pool so the event loop stays free while a keyslot takes seconds and a GiB of memory.
 */

/** The variants LUKS2 keyslots use (cryptsetup never writes argon2d). */
export type Argon2Variant = 'argon2i' | 'argon2id'

export interface Argon2Params {
  /** Memory cost in KiB (1 KiB blocks). */
  readonly memory: number
  /** Number of passes over the memory (time cost, `t`). */
  readonly passes: number
  /** Lanes (`p`); the derived key depends on it. */
  readonly parallelism: number
}

/**
 * Bounds checked before anything is allocated: RFC 9106 §3.1 (m >= 8p, salt >= 8 bytes, tag >= 4)
 * and Ward's own upper bounds (cryptsetup's 4 GiB memory maximum, 16 lanes).
 */
export const ARGON2_MAX_MEMORY_KIB = 4 * 1048576
export const ARGON2_MAX_PARALLELISM = 16
export const ARGON2_MAX_PASSES = 1_000_000
export const ARGON2_MAX_LENGTH = 1024

const whole = (n: number, lo: number, hi: number): boolean =>
  Number.isSafeInteger(n) && n >= lo && n <= hi

/** Throws ERR_KDF_PARAMS / ERR_KDF_LENGTH for parameters Ward does not run. */
export function checkArgon2Params(p: Argon2Params, saltLength: number, length: number): void {
  if (!whole(p.parallelism, 1, ARGON2_MAX_PARALLELISM))
    throw new EnvelopeError(
      'ERR_KDF_PARAMS',
      `argon2 parallelism must be 1..${ARGON2_MAX_PARALLELISM}, got ${p.parallelism}`,
    )
  if (!whole(p.memory, 8 * p.parallelism, ARGON2_MAX_MEMORY_KIB))
    throw new EnvelopeError(
      'ERR_KDF_PARAMS',
      `argon2 memory must be ${8 * p.parallelism}..${ARGON2_MAX_MEMORY_KIB} KiB (at least 8 per lane), got ${p.memory}`,
    )
  if (!whole(p.passes, 1, ARGON2_MAX_PASSES))
    throw new EnvelopeError(
      'ERR_KDF_PARAMS',
      `argon2 passes must be 1..${ARGON2_MAX_PASSES}, got ${p.passes}`,
    )
  if (!whole(saltLength, 8, 1024))
    throw new EnvelopeError(
      'ERR_KDF_PARAMS',
      `argon2 salt must be 8..1024 bytes, got ${saltLength}`,
    )
  if (!whole(length, 4, ARGON2_MAX_LENGTH))
    throw new EnvelopeError(
      'ERR_KDF_LENGTH',
      `argon2 output must be 4..${ARGON2_MAX_LENGTH} bytes, got ${length}`,
    )
}

/** Argon2 (RFC 9106) of `password` on the libuv thread pool; the caller zeroes the result. */
export function argon2Derive(
  variant: Argon2Variant,
  password: Uint8Array,
  salt: Uint8Array,
  p: Argon2Params,
  length: number,
): Promise<Uint8Array> {
  if (variant !== 'argon2i' && variant !== 'argon2id')
    return Promise.reject(
      new EnvelopeError(
        'ERR_KDF_PARAMS',
        `unknown argon2 variant '${String(variant).slice(0, 16)}'`,
      ),
    )
  try {
    checkArgon2Params(p, salt.length, length)
  } catch (e) {
    return Promise.reject(e as Error)
  }
  return new Promise((resolve, reject) => {
    argon2(
      variant,
      {
        message: password,
        nonce: salt,
        parallelism: p.parallelism,
        tagLength: length,
        memory: p.memory,
        passes: p.passes,
      },
      (err, key) => {
        if (err)
          reject(
            new EnvelopeError(
              'ERR_KDF_PARAMS',
              `argon2 failed (${(err as NodeJS.ErrnoException).code ?? err.message.slice(0, 80)}); the host may lack ${Math.ceil(p.memory / 1024)} MiB of free memory`,
              { cause: err },
            ),
          )
        else {
          const out = new Uint8Array(key)
          key.fill(0)
          resolve(out)
        }
      },
    )
  })
}
