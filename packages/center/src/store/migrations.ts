/**
 * One set of migrations for SQLite and PostgreSQL, in code (kysely's Migrator with an in-code
 * provider). Applied versions are rows of `ward_migration` (the schema version table); a database
 * that has a migration this build does not know was written by a newer center and is refused
 * (ERR_CENTER_SCHEMA_NEWER) rather than half-understood. Column types are the ones both
 * databases share, except the byte type (blob / bytea), given by the dialect.
 */
import { sql, type Kysely } from 'kysely'
import type { Migration, MigrationProvider } from 'kysely/migration'

export type DialectName = 'sqlite' | 'postgres'

const bytesType = (d: DialectName) => (d === 'sqlite' ? sql`blob` : sql`bytea`)

const v1 = (dialect: DialectName): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const s = db.schema
    await s
      .createTable('counters')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('next', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('datacenters')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('clusters')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('datacenter', 'text', (c) => c.notNull().references('datacenters.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('crypto_mode', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('clusters_name', ['datacenter', 'name'])
      .execute()
    await s
      .createTable('hosts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('datacenter', 'text', (c) => c.notNull().references('datacenters.id'))
      .addColumn('cluster', 'text', (c) => c.references('clusters.id'))
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('connection_state', 'text', (c) => c.notNull())
      .addColumn('crypto_state', 'text', (c) => c.notNull())
      .addColumn('tpm_present', 'integer', (c) => c.notNull())
      .addColumn('key_persistence', 'integer', (c) => c.notNull())
      .addColumn('recovery_key_backed_up', 'integer', (c) => c.notNull())
      .addColumn('cert_fingerprint', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('datastores')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('datacenter', 'text', (c) => c.notNull().references('datacenters.id'))
      .addColumn('host', 'text', (c) => c.references('hosts.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('vms')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('datacenter', 'text', (c) => c.notNull().references('datacenters.id'))
      .addColumn('host', 'text', (c) => c.references('hosts.id'))
      .addColumn('datastore', 'text', (c) => c.references('datastores.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('power_state', 'text', (c) => c.notNull())
      .addColumn('crypto_state', 'text')
      .addColumn('key_provider', 'text')
      .addColumn('kek_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('disks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('vm', 'text', (c) => c.notNull().references('vms.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('capacity', 'bigint', (c) => c.notNull())
      .addColumn('encrypted', 'integer', (c) => c.notNull())
      .addColumn('key_provider', 'text')
      .addColumn('kek_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('users')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('failed_logins', 'integer', (c) => c.notNull())
      .addColumn('locked_until', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('roles')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('system', 'integer', (c) => c.notNull())
      .addColumn('privileges', 'text', (c) => c.notNull())
      .execute()
    await s
      .createTable('permissions')
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('principal', 'text', (c) => c.notNull())
      .addColumn('role', 'integer', (c) => c.notNull().references('roles.id'))
      .addColumn('propagate', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('permissions_pk', ['object', 'principal'])
      .execute()
    await s.createIndex('permissions_principal').on('permissions').column('principal').execute()
    await s
      .createTable('sessions')
      .addColumn('id_hmac', 'text', (c) => c.primaryKey())
      .addColumn('user', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used', 'bigint', (c) => c.notNull())
      .execute()
    await s
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user', 'text', (c) => c.notNull().references('users.name'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('secret_hmac', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .execute()
    await s
      .createTable('audit')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('principal', 'text', (c) => c.notNull())
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('route', 'text', (c) => c.notNull())
      .addColumn('privileges', 'text', (c) => c.notNull())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('missing', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .execute()
    await s.createIndex('audit_at').on('audit').column('at').execute()
    await s
      .createTable('join_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('token_hmac', 'text', (c) => c.notNull().unique())
      .addColumn('datacenter', 'text', (c) => c.notNull().references('datacenters.id'))
      .addColumn('cluster', 'text', (c) => c.references('clusters.id'))
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('host', 'text')
      .execute()
    await s
      .createTable('tasks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('progress', 'integer', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('result', 'text')
      .execute()
    await s.createIndex('tasks_state').on('tasks').column('state').execute()
    await s
      .createTable('key_providers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('sealed', bytesType(dialect))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute()
    await db
      .insertInto('counters' as never)
      .values({ name: 'inventory', next: 0 } as never)
      .execute()
  },
})

// native key providers (providers/native/): their state, exports waiting for download, hosts
const nkp = (dialect: DialectName): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const s = db.schema
    await s
      .createTable('native_providers')
      .addColumn('id', 'text', (c) => c.primaryKey().references('key_providers.id'))
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('tpm_required', 'integer', (c) => c.notNull())
      .addColumn('backed_up_at', 'bigint')
      .addColumn('export_time', 'bigint')
      .addColumn('alarm_raised_at', 'bigint')
      .addColumn('alarm_raises', 'integer', (c) => c.notNull())
      .execute()
    await s
      .createTable('nkp_exports')
      .addColumn('token_hmac', 'text', (c) => c.primaryKey())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('sealed', bytesType(dialect), (c) => c.notNull())
      .addColumn('export_time', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .execute()
    await s
      .createTable('nkp_hosts')
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('detail', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('nkp_hosts_pk', ['provider', 'host'])
      .execute()
  },
})
// providers (issue 13 item 2): servers of standard providers live in key_providers.spec; the KEKs
// the center created (for key status and garbage collection), default providers, settings
const providers2026120301: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const s = db.schema
    await s
      .createTable('center_keys')
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('kek_id', 'text', (c) => c.notNull())
      .addColumn('label', 'text', (c) => c.notNull())
      .addColumn('vm', 'text')
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('unused_since', 'bigint')
      .addColumn('destroyed_at', 'bigint')
      .addPrimaryKeyConstraint('center_keys_pk', ['provider', 'kek_id'])
      .execute()
    await s
      .createTable('key_provider_defaults')
      .addColumn('scope', 'text', (c) => c.primaryKey())
      .addColumn('provider', 'text', (c) => c.notNull())
      .execute()
    await s
      .createTable('provider_settings')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute()
  },
}

// tasks (issue 13 item 3): the task runner's columns, the VM folder on its host
const tasks2 = (): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const t = () => db.schema.alterTable('tasks')
    // each ALTER adds one column: SQLite's ALTER TABLE takes one at a time
    await t()
      .addColumn('params', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute()
    await t().addColumn('host', 'text').execute()
    await t()
      .addColumn('progress_done', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute()
    await t()
      .addColumn('progress_total', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute()
    await t()
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .execute()
    await t().addColumn('started_at', 'bigint').execute()
    await t().addColumn('completed_at', 'bigint').execute()
    await db.schema.alterTable('vms').addColumn('path', 'text').execute()
  },
})

// ha, events and alarms, host status (issue 13 items 1, 3, 6)
const v2026120304ha = (dialect: DialectName): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const s = db.schema
    // the leader lease: one row per lease name, renewed by its holder (ha/leadership.ts)
    await s
      .createTable('leader_lease')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('epoch', 'bigint', (c) => c.notNull())
      .addColumn('acquired_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute()
    // events: append-only
    await s
      .createTable('events')
      .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigserial', (c) =>
        dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
      )
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('severity', 'text', (c) => c.notNull())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('principal', 'text', (c) => c.notNull())
      .execute()
    await s.createIndex('events_at').on('events').column('at').execute()
    // alarms: one row per (definition, object, subject)
    await s
      .createTable('alarms')
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('object', 'text', (c) => c.notNull())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('first_raised', 'bigint', (c) => c.notNull())
      .addColumn('last_raised', 'bigint', (c) => c.notNull())
      .addColumn('cleared_at', 'bigint')
      .addColumn('acknowledged', 'integer', (c) => c.notNull())
      .addColumn('acknowledged_at', 'bigint')
      .addColumn('acknowledged_by', 'text')
      .addPrimaryKeyConstraint('alarms_pk', ['definition', 'object', 'subject'])
      .execute()
    // host status polled by the leader (monitor/)
    await s
      .alterTable('hosts')
      .addColumn('secure_config_mode', 'text', (c) => c.notNull().defaultTo('unknown'))
      .execute()
    await s.alterTable('hosts').addColumn('last_seen', 'bigint').execute()
    await s.alterTable('hosts').addColumn('cert_not_after', 'bigint').execute()
    // "enable host encryption mode" asked for and not yet applied: JSON { providerId, keyId }
    await s.alterTable('hosts').addColumn('crypto_key_wanted', 'text').execute()
    // ClusterComputeResourceCryptoModePolicy: JSON { providerId, keyId } or null
    await s.alterTable('clusters').addColumn('crypto_policy', 'text').execute()
  },
})

// key GC counts host keys: the key each host is in safe crypto state with, as last polled
const hostKeys2026120401 = (): Migration => ({
  async up(db) {
    await db.schema.alterTable('hosts').addColumn('host_key', 'text').execute()
  },
})

/** The migrations, in order; names sort in application order. */
export const migrationList = (dialect: DialectName): Readonly<Record<string, Migration>> => ({
  '0001-initial': v1(dialect),
  // providers
  '2026120301_providers': providers2026120301,
  '2026120302_nkp': nkp(dialect),
  // tasks
  '2026120302_tasks': tasks2(),
  // ha, events and alarms, host status
  '2026120304_ha': v2026120304ha(dialect),
  // key GC: host keys
  '2026120401_host_keys': hostKeys2026120401(),
})

/** kysely's in-code provider over {@link migrationList}. */
export const migrationProvider = (dialect: DialectName): MigrationProvider => ({
  getMigrations: async () => ({ ...migrationList(dialect) }),
})

/** The table kysely's Migrator records applied versions in. */
export const MIGRATION_TABLE = 'ward_migration'
