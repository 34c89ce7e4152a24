/**
 * Native key providers (vSphere's NKP, docs/center.md "Native key provider"). The center makes a
 * key-derivation key (KDK, 32 random bytes) per provider, sealed under the master key in its
 * key_providers row, and pushes it over mutual TLS to the hosts in clusters (only to hosts whose
 * status says TPM-protected when the provider has tpm_required); hosts derive the KEKs themselves
 * (packages/host/src/keys/kdk.ts), even while the center is down. A provider is unusable until
 * it was backed up at least once (a password-protected PKCS#12, exported in two steps); until
 * then the "not backed up" alarm is raised again every 24 hours. A backup imports into a new
 * center (dry_run checks it and changes nothing).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import { Secret, type Logger } from '@ward/core'
import { KDK_BYTES, KDK_PROVIDER } from '@ward/host'
import { CenterError } from '../../errors.js'
import type { Sealer } from '../../seal/sealer.js'
import type { CenterDb } from '../../store/schema.js'
import type { KeyProviderRuntime, KeyState } from '../types.js'
import type { HostLinks } from './host-links.js'
import { buildPkcs12, openPkcs12 } from './pkcs12.js'

export const NativeLimits = {
  /** The "not backed up" alarm is raised again after this long (vSphere: every 24 hours). */
  alarmEveryMs: 24 * 3600 * 1000,
  /** An export's download token lives this long. */
  exportTokenMs: 5 * 60 * 1000,
} as const

/** The alarm's name (events/alarms, vSphere's "Native key provider not backed up"). */
export const NOT_BACKED_UP_ALARM = 'NativeKeyProviderNotBackedUp'

/** The JSON record inside the PKCS#12's SecretBag (docs/formats.md). */
interface BackupRecord {
  format: 'ward-nkp-backup'
  version: 1
  provider: string
  key_id: string
  kdk: string
  tpm_required: boolean
  export_time: string
}

export interface NativeProviderInfo {
  provider: string
  type: 'NATIVE'
  key_id: string
  constraints: { tpm_required: boolean }
  /** NOT_BACKED_UP → WARNING (KDK not on every eligible host yet) → ACTIVE. */
  status: 'NOT_BACKED_UP' | 'WARNING' | 'ACTIVE'
  backed_up: boolean
  export_time: string | null
  alarm: { name: string; raised: string; raises: number } | null
  hosts: { host: string; state: string; detail?: string }[]
}

export interface ImportResult {
  provider: string
  type: 'NATIVE'
  native_info: { key_id: string }
  export_time: string
  constraints: { tpm_required: boolean }
  dry_run: boolean
}

export interface NativeOptions {
  readonly db: Kysely<CenterDb>
  readonly sealer: Sealer
  readonly hosts: HostLinks
  readonly logger: Logger
  /** The clock (tests move it for the 24-hour alarm). */
  readonly now?: () => number
}

const PROVIDER_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const aadOf = (provider: string): string => `key_providers/${provider}`
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

const notBackedUp = (p: string): CenterError =>
  new CenterError(
    'ERR_CENTER_NKP_NOT_BACKED_UP',
    `native key provider ${p} cannot be used until it is backed up at least once; back it up (ward provider native export ${p} --password-file FILE --out ${p}.p12) and keep the file and its password apart`,
    { provider: p },
  )
const missing = (p: string): CenterError =>
  new CenterError(
    'ERR_CENTER_NOT_FOUND',
    `no native key provider ${p}; list them (ward provider native list) to check the name`,
  )

export class NativeKeyProviders {
  readonly #db: Kysely<CenterDb>
  readonly #sealer: Sealer
  readonly #hosts: HostLinks
  readonly #log: Logger
  readonly #now: () => number
  /** pushes started by a backup, awaited by {@link settled} and close */
  readonly #pushes = new Set<Promise<unknown>>()

  constructor(o: NativeOptions) {
    this.#db = o.db
    this.#sealer = o.sealer
    this.#hosts = o.hosts
    this.#log = o.logger.child({ component: 'nkp' })
    this.#now = o.now ?? Date.now
  }

  /** Create a provider: the KDK given (base64, 32 bytes) or 32 random bytes, sealed. */
  async create(spec: {
    provider: string
    keyId?: string | undefined
    kdk?: Secret | undefined
    tpmRequired: boolean
  }): Promise<string> {
    const kdk = spec.kdk ?? new Secret(new Uint8Array(randomBytes(KDK_BYTES)))
    let p: string
    try {
      p = checkName(spec.provider)
      if (kdk.length !== KDK_BYTES)
        throw new CenterError(
          'ERR_CENTER_NKP_KDK',
          `a key derivation key is ${KDK_BYTES} bytes (base64); give one of that size or none to have one made`,
        )
      await this.#insert(p, spec.keyId ?? randomUUID(), kdk, spec.tpmRequired, null, null)
    } finally {
      kdk.dispose()
    }
    this.#log.info({ provider: p, tpmRequired: spec.tpmRequired }, 'native key provider created')
    await this.checkAlarms()
    return p
  }

  async #insert(
    p: string,
    keyId: string,
    kdk: Secret,
    tpmRequired: boolean,
    backedUpAt: number | null,
    exportTime: number | null,
  ): Promise<void> {
    const exists = await this.#db
      .selectFrom('key_providers')
      .select('id')
      .where((eb) => eb.or([eb('id', '=', p), eb('name', '=', p)]))
      .executeTakeFirst()
    if (exists !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `a key provider named ${p} exists; choose another name or delete it first`,
      )
    const sealed = kdk.use((k) => this.#sealer.seal(aadOf(p), k))
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('key_providers')
        .values({
          id: p,
          name: p,
          type: 'native',
          spec: JSON.stringify({ key_id: keyId, tpm_required: tpmRequired }),
          sealed,
          created_at: this.#now(),
        })
        .execute()
      await trx
        .insertInto('native_providers')
        .values({
          id: p,
          key_id: keyId,
          tpm_required: tpmRequired ? 1 : 0,
          backed_up_at: backedUpAt,
          export_time: exportTime,
          alarm_raised_at: null,
          alarm_raises: 0,
        })
        .execute()
    })
  }

  async list(): Promise<NativeProviderInfo[]> {
    await this.checkAlarms()
    const rows = await this.#db.selectFrom('native_providers').select('id').orderBy('id').execute()
    return Promise.all(rows.map((r) => this.get(r.id)))
  }

  async get(provider: string): Promise<NativeProviderInfo> {
    const r = await this.#row(provider)
    const hosts = await this.#db
      .selectFrom('nkp_hosts')
      .selectAll()
      .where('provider', '=', provider)
      .orderBy('host')
      .execute()
    const eligible = await this.#eligibleHosts()
    const installed = new Set(hosts.filter((h) => h.state === 'installed').map((h) => h.host))
    const everywhere = eligible.every(
      (h) => installed.has(h) || hosts.some((x) => x.host === h && x.state === 'refused'),
    )
    const backedUp = r.backed_up_at !== null
    return {
      provider: r.id,
      type: 'NATIVE',
      key_id: r.key_id,
      constraints: { tpm_required: r.tpm_required === 1 },
      status: !backedUp ? 'NOT_BACKED_UP' : everywhere ? 'ACTIVE' : 'WARNING',
      backed_up: backedUp,
      export_time: iso(r.export_time),
      alarm:
        !backedUp && r.alarm_raised_at !== null
          ? { name: NOT_BACKED_UP_ALARM, raised: iso(r.alarm_raised_at)!, raises: r.alarm_raises }
          : null,
      hosts: hosts.map((h) => ({
        host: h.host,
        state: h.state,
        ...(h.detail !== null ? { detail: h.detail } : {}),
      })),
    }
  }

  async delete(provider: string): Promise<void> {
    await this.#row(provider)
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('nkp_exports').where('provider', '=', provider).execute()
      await trx.deleteFrom('nkp_hosts').where('provider', '=', provider).execute()
      await trx.deleteFrom('native_providers').where('id', '=', provider).execute()
      await trx.deleteFrom('key_providers').where('id', '=', provider).execute()
    })
    this.#log.info({ provider }, 'native key provider deleted')
  }

  /**
   * Export step 1: the PKCS#12 is made now under `password` and kept (sealed) for one download
   * with the token returned (shown once; the database keeps its HMAC).
   */
  async export(
    provider: string,
    password: Uint8Array,
    user: string,
  ): Promise<{ token: string; expiry: string }> {
    const r = await this.#row(provider)
    const kdk = await this.#kdk(provider)
    const exportTime = this.#now()
    const record: BackupRecord = {
      format: 'ward-nkp-backup',
      version: 1,
      provider,
      key_id: r.key_id,
      kdk: kdk.use((k) => Buffer.from(k).toString('base64')),
      tpm_required: r.tpm_required === 1,
      export_time: new Date(exportTime).toISOString(),
    }
    kdk.dispose()
    const json = Buffer.from(JSON.stringify(record))
    record.kdk = ''
    const p12 = buildPkcs12(json, provider, password)
    json.fill(0)
    const token = `wardnkp_${randomBytes(32).toString('base64url')}`
    const hmac = this.#sealer.hmac('nkp-export', token)
    const expires = this.#now() + NativeLimits.exportTokenMs
    await this.#db
      .insertInto('nkp_exports')
      .values({
        token_hmac: hmac,
        provider,
        sealed: this.#sealer.seal(`nkp_exports/${hmac}`, p12),
        export_time: exportTime,
        created_by: user,
        created_at: this.#now(),
        expires_at: expires,
        used_at: null,
      })
      .execute()
    p12.fill(0)
    this.#log.info({ provider }, 'native key provider export prepared')
    return { token, expiry: new Date(expires).toISOString() }
  }

  /**
   * Export step 2: the file, once, for the token of step 1. The provider is then backed up: its
   * alarm clears and its KDK is pushed to the hosts (in the background: {@link settled}).
   */
  async download(provider: string, token: string): Promise<Buffer> {
    const hmac = this.#sealer.hmac('nkp-export', token)
    const now = this.#now()
    const e = await this.#db
      .selectFrom('nkp_exports')
      .selectAll()
      .where('token_hmac', '=', hmac)
      .executeTakeFirst()
    if (e === undefined || e.provider !== provider || e.used_at !== null || e.expires_at <= now)
      throw new CenterError(
        'ERR_CENTER_NKP_EXPORT_TOKEN',
        'the download token is unknown, used or expired (or of another provider); export again',
      )
    const used = await this.#db
      .updateTable('nkp_exports')
      .set({ used_at: now })
      .where('token_hmac', '=', hmac)
      .where('used_at', 'is', null)
      .executeTakeFirst()
    if (Number(used.numUpdatedRows) !== 1)
      throw new CenterError(
        'ERR_CENTER_NKP_EXPORT_TOKEN',
        'the download token was used; export again',
      )
    const file = this.#sealer.open(`nkp_exports/${hmac}`, e.sealed).use((b) => Buffer.from(b))
    await this.#db.deleteFrom('nkp_exports').where('token_hmac', '=', hmac).execute()
    await this.#db
      .updateTable('native_providers')
      .set({ backed_up_at: now, export_time: e.export_time, alarm_raised_at: null })
      .where('id', '=', provider)
      .execute()
    this.#log.info({ provider }, 'native key provider backed up')
    this.#track(this.pushAll(provider))
    return file
  }

  /** Import a backup (PKCS#12 with its password); `dryRun` checks it and changes nothing. */
  async import(o: {
    config: Uint8Array
    password: Uint8Array
    tpmRequired?: boolean | undefined
    dryRun: boolean
  }): Promise<ImportResult> {
    const { record: raw } = openPkcs12(o.config, o.password)
    let rec: BackupRecord
    try {
      rec = JSON.parse(raw.toString('utf8')) as BackupRecord
    } catch {
      rec = {} as BackupRecord
    } finally {
      raw.fill(0)
    }
    const kdkBytes = typeof rec.kdk === 'string' ? Buffer.from(rec.kdk, 'base64') : Buffer.alloc(0)
    rec.kdk = ''
    const exportTime = Date.parse(rec.export_time)
    if (
      rec.format !== 'ward-nkp-backup' ||
      rec.version !== 1 ||
      typeof rec.provider !== 'string' ||
      !PROVIDER_RE.test(rec.provider) ||
      typeof rec.key_id !== 'string' ||
      kdkBytes.length !== KDK_BYTES ||
      Number.isNaN(exportTime)
    ) {
      kdkBytes.fill(0)
      throw new CenterError(
        'ERR_CENTER_NKP_BACKUP_FORMAT',
        'the file opens but holds no native key provider record of this format; give the .p12 that ward center exported',
      )
    }
    const kdk = Secret.take(kdkBytes)
    const tpmRequired = o.tpmRequired ?? rec.tpm_required === true
    const result: ImportResult = {
      provider: rec.provider,
      type: 'NATIVE',
      native_info: { key_id: rec.key_id },
      export_time: new Date(exportTime).toISOString(),
      constraints: { tpm_required: tpmRequired },
      dry_run: o.dryRun,
    }
    try {
      if (o.dryRun) return result
      // restored from a backup: it is backed up
      await this.#insert(rec.provider, rec.key_id, kdk, tpmRequired, this.#now(), exportTime)
    } finally {
      kdk.dispose()
    }
    this.#log.info({ provider: rec.provider }, 'native key provider imported')
    this.#track(this.pushAll(rec.provider))
    return result
  }

  /** The runtime the task runner uses (providers/types.ts). */
  runtime(provider: string): KeyProviderRuntime {
    return {
      id: provider,
      type: 'native',
      newKek: async () => {
        const r = await this.#row(provider)
        if (r.backed_up_at === null) throw notBackedUp(provider)
        // no key material per VM: the hosts derive the KEK from the KDK and this id
        return { kekId: randomUUID() }
      },
      deliverKek: async (_kekId, host) => {
        const r = await this.#row(provider)
        if (r.backed_up_at === null) throw notBackedUp(provider)
        await this.pushTo(provider, host.hostId, { force: false })
      },
      keyState: async (): Promise<KeyState> => {
        await this.#row(provider)
        // the center never holds an NKP's KEKs: the seed's status for them
        return 'KeyStateManagedByNKP'
      },
    }
  }

  /**
   * Make sure host `hostId` holds the provider's KDK: refused (ERR_CENTER_NKP_TPM_REQUIRED) when
   * the provider requires TPM protection and the host's status does not say mode TPM.
   */
  async pushTo(provider: string, hostId: string, o: { force: boolean }): Promise<void> {
    const r = await this.#row(provider)
    const record = (state: string, detail: string | null): Promise<unknown> =>
      this.#db.transaction().execute(async (trx) => {
        await trx
          .deleteFrom('nkp_hosts')
          .where('provider', '=', provider)
          .where('host', '=', hostId)
          .execute()
        await trx
          .insertInto('nkp_hosts')
          .values({ provider, host: hostId, state, detail, updated_at: this.#now() })
          .execute()
      })
    try {
      const client = await this.#hosts.client(hostId)
      if (r.tpm_required === 1) {
        const s = await client.call('status')
        if (s.mode !== 'TPM') {
          await record('refused', 'tpm_required: the host is not TPM-protected')
          throw new CenterError(
            'ERR_CENTER_NKP_TPM_REQUIRED',
            `native key provider ${provider} is for TPM-protected hosts only, and host ${hostId} is not (its encryption mode is ${s.mode}); set mode TPM on the host (ward host settings encryption set --mode=TPM) or use another provider`,
            { provider, host: hostId },
          )
        }
      }
      if (!o.force) {
        const has = await client.call('keys.has', { providerId: KDK_PROVIDER, kekId: provider })
        if (has.inCache) return void (await record('installed', null))
      }
      const kdk = await this.#kdk(provider)
      const b64 = kdk.use((k) => Buffer.from(k).toString('base64'))
      kdk.dispose()
      await client.call('keys.kdk.install', { providerId: provider, kdk: b64 })
      await record('installed', null)
      this.#log.info({ provider, host: hostId }, 'native key provider KDK installed on host')
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'error'
      if (code !== 'ERR_CENTER_NKP_TPM_REQUIRED') await record('failed', code)
      throw e
    }
  }

  /** Push the KDK to every host in a cluster (standalone hosts do not take part, as in vSphere). */
  async pushAll(provider: string): Promise<{ host: string; ok: boolean; code?: string }[]> {
    const out: { host: string; ok: boolean; code?: string }[] = []
    for (const host of await this.#eligibleHosts()) {
      try {
        await this.pushTo(provider, host, { force: false })
        out.push({ host, ok: true })
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'error'
        this.#log.warn({ provider, host, code }, 'native key provider KDK not pushed to host')
        out.push({ host, ok: false, code })
      }
    }
    return out
  }

  /** Raise the "not backed up" alarm of every provider not backed up, again after 24 hours. */
  async checkAlarms(): Promise<void> {
    const now = this.#now()
    const rows = await this.#db
      .selectFrom('native_providers')
      .selectAll()
      .where('backed_up_at', 'is', null)
      .execute()
    for (const r of rows) {
      if (r.alarm_raised_at !== null && now - r.alarm_raised_at < NativeLimits.alarmEveryMs)
        continue
      await this.#db
        .updateTable('native_providers')
        .set({ alarm_raised_at: now, alarm_raises: r.alarm_raises + 1 })
        .where('id', '=', r.id)
        .execute()
      this.#log.warn(
        { alarm: NOT_BACKED_UP_ALARM, provider: r.id, raises: r.alarm_raises + 1 },
        'alarm: native key provider not backed up; it cannot be used until it is backed up',
      )
    }
  }

  /** Pushes started by a backup or an import, all done. */
  async settled(): Promise<void> {
    while (this.#pushes.size > 0) await Promise.allSettled([...this.#pushes])
  }

  #track(p: Promise<unknown>): void {
    const t = p.catch(() => undefined).finally(() => this.#pushes.delete(t))
    this.#pushes.add(t)
  }

  async #eligibleHosts(): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('hosts')
      .select('id')
      .where('cluster', 'is not', null)
      .orderBy('id')
      .execute()
    return rows.map((r) => r.id)
  }

  async #row(provider: string): Promise<CenterDb['native_providers']> {
    const r = await this.#db
      .selectFrom('native_providers')
      .selectAll()
      .where('id', '=', provider)
      .executeTakeFirst()
    if (r === undefined) throw missing(provider)
    return r
  }

  async #kdk(provider: string): Promise<Secret> {
    const k = await this.#db
      .selectFrom('key_providers')
      .select('sealed')
      .where('id', '=', provider)
      .executeTakeFirst()
    if (k?.sealed == null) throw missing(provider)
    return this.#sealer.open(aadOf(provider), k.sealed)
  }
}

function checkName(p: string): string {
  if (!PROVIDER_RE.test(p) || p === KDK_PROVIDER)
    throw new CenterError(
      'ERR_CENTER_BAD_REQUEST',
      `a key provider name is 1 to 64 letters, digits, '.', '_' or '-' (not ${KDK_PROVIDER})`,
    )
  return p
}
