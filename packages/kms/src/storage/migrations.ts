/** The schema: ordered migrations, the same for both dialects but for the binary column type. */

/** Ordered migrations; `blob` is the dialect's binary type. */
export const migrations = (blob: string): readonly string[][] => [
  [
    `CREATE TABLE kms_objects (id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL,
      state INTEGER NOT NULL, attrs TEXT NOT NULL, material ${blob}, format INTEGER NOT NULL,
      created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
    'CREATE INDEX kms_objects_owner ON kms_objects (owner)',
    `CREATE TABLE kms_grants (object_id TEXT NOT NULL, identity TEXT NOT NULL, operations TEXT NOT NULL,
      PRIMARY KEY (object_id, identity))`,
    'CREATE INDEX kms_grants_identity ON kms_grants (identity)',
  ],
  // Locate filters in SQL: algorithm and length as columns, names in their own table; rows
  // written before this migration are indexed by backfillLocateIndex (indexed = 0).
  [
    'ALTER TABLE kms_objects ADD COLUMN algorithm INTEGER',
    'ALTER TABLE kms_objects ADD COLUMN crypto_length INTEGER',
    'ALTER TABLE kms_objects ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0',
    `CREATE TABLE kms_object_names (object_id TEXT NOT NULL, name TEXT NOT NULL,
      PRIMARY KEY (object_id, name))`,
    'CREATE INDEX kms_object_names_name ON kms_object_names (name)',
    'CREATE INDEX kms_objects_type_state ON kms_objects (object_type, state)',
    'CREATE INDEX kms_objects_alg_len ON kms_objects (algorithm, crypto_length)',
  ],
  // KMIP Fresh as a column, flipped by one UPDATE on the first Get instead of a whole-row rewrite.
  ['ALTER TABLE kms_objects ADD COLUMN fetched INTEGER NOT NULL DEFAULT 0'],
  // One Locate index instead of three: every Locate is scoped to an owner (or to grants, which go
  // through the primary key), so (owner, type, state, algorithm, length) serves the same queries,
  // and a Create updates two index pages fewer (bench/README.md, "kms").
  [
    'DROP INDEX kms_objects_owner',
    'DROP INDEX kms_objects_type_state',
    'DROP INDEX kms_objects_alg_len',
    'CREATE INDEX kms_objects_locate ON kms_objects (owner, object_type, state, algorithm, crypto_length)',
  ],
]
