/** The kms tests' PostgreSQL database (the shared helper of `@ward/kms/testing`) and the repository root. */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestDb as createDb, type TestDb } from '../../src/testing/pg.js'

export type { TestDb }
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..')
export const createTestDb = (): Promise<TestDb> => createDb('ward_kms')
