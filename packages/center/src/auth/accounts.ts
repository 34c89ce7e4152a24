/**
 * Local users, sessions and API tokens (vSphere REST's session model: `POST /api/session` with
 * basic auth gives a session id, sent back in `vmware-api-session-id`). Session ids and tokens are
 * random and leave the center only in the reply that creates them; the database keeps their HMAC
 * (seal/sealer.ts), so a copy of the database opens no session. Sessions expire after
 * `sessionIdleMs` without use. After `maxFailures` wrong passwords in a row an account is locked
 * for `lockoutMs` (ERR_CENTER_LOCKED_OUT says until when); a right password resets the count.
 */
import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import { CenterError } from '../errors.js'
import type { Sealer } from '../seal/sealer.js'
import type { CenterDb } from '../store/schema.js'
import {
  MAX_PASSWORD_BYTES,
  defaultArgon2,
  dummyHash,
  hashPassword,
  verifyPassword,
  type Argon2Params,
} from './password.js'

export interface AccountOptions {
  readonly sessionIdleMs?: number
  readonly maxFailures?: number
  readonly lockoutMs?: number
  readonly argon2?: Argon2Params
  readonly now?: () => number
}

export const USER_NAME = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'
const userName = new RegExp(USER_NAME)
const TOKEN_PREFIX = 'ward_'

export interface TokenInfo {
  readonly id: string
  readonly name: string
  readonly user: string
  readonly created: string
  readonly expires: string | null
}

export class Accounts {
  readonly #db: Kysely<CenterDb>
  readonly #sealer: Sealer
  readonly #idle: number
  readonly #maxFailures: number
  readonly #lockout: number
  readonly #argon2: Argon2Params
  readonly now: () => number
  #dummy: Promise<string> | undefined

  constructor(db: Kysely<CenterDb>, sealer: Sealer, o: AccountOptions = {}) {
    this.#db = db
    this.#sealer = sealer
    this.#idle = o.sessionIdleMs ?? 30 * 60_000
    this.#maxFailures = o.maxFailures ?? 5
    this.#lockout = o.lockoutMs ?? 5 * 60_000
    this.#argon2 = o.argon2 ?? defaultArgon2
    this.now = o.now ?? Date.now
  }

  async createUser(name: string, password: Uint8Array): Promise<void> {
    if (!userName.test(name))
      throw new CenterError(
        'ERR_CENTER_BAD_REQUEST',
        'a user name is 1-64 characters: letters, digits, . _ @ - (not first)',
      )
    checkPassword(password)
    const hash = await hashPassword(password, this.#argon2)
    const exists = await this.#db
      .selectFrom('users')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst()
    if (exists !== undefined)
      throw new CenterError('ERR_CENTER_EXISTS', `user ${name} exists; choose another name`)
    await this.#db
      .insertInto('users')
      .values({
        name,
        password_hash: hash,
        failed_logins: 0,
        locked_until: 0,
        created_at: this.now(),
      })
      .execute()
  }

  async listUsers(): Promise<{ name: string; created: string; locked_until: string | null }[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('name').execute()
    const now = this.now()
    return rows.map((r) => ({
      name: r.name,
      created: new Date(r.created_at).toISOString(),
      locked_until: r.locked_until > now ? new Date(r.locked_until).toISOString() : null,
    }))
  }

  /**
   * Check a password: the user's name, or ERR_CENTER_UNAUTHENTICATED (same answer for an unknown
   * user and a wrong password, after the same argon2 work), or ERR_CENTER_LOCKED_OUT.
   */
  async authenticate(name: string, password: Uint8Array): Promise<string> {
    const row =
      password.length <= MAX_PASSWORD_BYTES && userName.test(name)
        ? await this.#db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst()
        : undefined
    const now = this.now()
    if (row !== undefined && row.locked_until > now) throw lockedOut(row.locked_until, now)
    this.#dummy ??= dummyHash(this.#argon2)
    const ok =
      password.length <= MAX_PASSWORD_BYTES &&
      (await verifyPassword(password, row?.password_hash ?? (await this.#dummy))) &&
      row !== undefined
    if (!ok) {
      if (row !== undefined) {
        const failed = row.failed_logins + 1
        const lock = failed >= this.#maxFailures
        await this.#db
          .updateTable('users')
          .set({ failed_logins: lock ? 0 : failed, locked_until: lock ? now + this.#lockout : 0 })
          .where('name', '=', name)
          .execute()
        if (lock) throw lockedOut(now + this.#lockout, now)
      }
      throw new CenterError(
        'ERR_CENTER_UNAUTHENTICATED',
        'wrong user name or password; check them (repeated failures lock the account for a while)',
      )
    }
    if (row.failed_logins !== 0)
      await this.#db
        .updateTable('users')
        .set({ failed_logins: 0 })
        .where('name', '=', name)
        .execute()
    return row.name
  }

  /** A new session for `user`: the session id (only the reply carries it). */
  async createSession(user: string): Promise<string> {
    const id = randomBytes(32).toString('base64url')
    const now = this.now()
    await this.#db
      .insertInto('sessions')
      .values({ id_hmac: this.#sealer.hmac('session', id), user, created_at: now, last_used: now })
      .execute()
    return id
  }

  /** The user of a live session, or undefined (unknown, or idle longer than the limit: removed). */
  async sessionUser(id: string): Promise<string | undefined> {
    if (id.length === 0 || id.length > 128) return undefined
    const key = this.#sealer.hmac('session', id)
    const row = await this.#db
      .selectFrom('sessions')
      .selectAll()
      .where('id_hmac', '=', key)
      .executeTakeFirst()
    if (row === undefined) return undefined
    const now = this.now()
    if (now - row.last_used > this.#idle) {
      await this.#db.deleteFrom('sessions').where('id_hmac', '=', key).execute()
      return undefined
    }
    // refresh the idle clock at most every 1/16 of the limit: reads need not write each time
    if (now - row.last_used > this.#idle / 16)
      await this.#db
        .updateTable('sessions')
        .set({ last_used: now })
        .where('id_hmac', '=', key)
        .execute()
    return row.user
  }

  async deleteSession(id: string): Promise<void> {
    await this.#db
      .deleteFrom('sessions')
      .where('id_hmac', '=', this.#sealer.hmac('session', id))
      .execute()
  }

  /** The HMAC under which a session or token appears in the audit log (correlation, not the value). */
  auditId(kind: 'session' | 'token', value: string): string {
    return this.#sealer.hmac(`audit-${kind}`, value).slice(0, 16)
  }

  async createToken(
    user: string,
    name: string,
    ttlSeconds?: number,
  ): Promise<TokenInfo & { token: string }> {
    const id = randomBytes(8).toString('hex')
    const token = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`
    const now = this.now()
    const expires = ttlSeconds === undefined ? null : now + ttlSeconds * 1000
    await this.#db
      .insertInto('api_tokens')
      .values({
        id,
        user,
        name,
        secret_hmac: this.#sealer.hmac('token', token),
        created_at: now,
        expires_at: expires,
      })
      .execute()
    return { id, name, user, token, created: new Date(now).toISOString(), expires: iso(expires) }
  }

  /** The user of a valid API token, or undefined. */
  async tokenUser(token: string): Promise<string | undefined> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 128) return undefined
    const row = await this.#db
      .selectFrom('api_tokens')
      .select(['user', 'expires_at'])
      .where('secret_hmac', '=', this.#sealer.hmac('token', token))
      .executeTakeFirst()
    if (row === undefined || (row.expires_at !== null && row.expires_at <= this.now()))
      return undefined
    return row.user
  }

  async listTokens(user: string): Promise<TokenInfo[]> {
    const rows = await this.#db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user', '=', user)
      .orderBy('created_at')
      .execute()
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      user: r.user,
      created: new Date(r.created_at).toISOString(),
      expires: iso(r.expires_at),
    }))
  }

  /** Revoke one of `user`'s tokens; false when it has none with that id. */
  async revokeToken(user: string, id: string): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('api_tokens')
      .where('user', '=', user)
      .where('id', '=', id)
      .executeTakeFirst()
    return r.numDeletedRows > 0n
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

function lockedOut(until: number, now: number): CenterError {
  return new CenterError(
    'ERR_CENTER_LOCKED_OUT',
    `too many failed logins: the account is locked until ${new Date(until).toISOString()}; try again then`,
    { retryAfterSeconds: Math.max(1, Math.ceil((until - now) / 1000)) },
  )
}

function checkPassword(password: Uint8Array): void {
  if (password.length < 8 || password.length > MAX_PASSWORD_BYTES)
    throw new CenterError(
      'ERR_CENTER_BAD_REQUEST',
      `a password is 8 to ${MAX_PASSWORD_BYTES} bytes; choose another`,
    )
}
