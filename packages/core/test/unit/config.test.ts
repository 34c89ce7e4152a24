import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type ConfigSchema } from '../../src/config.js'

const schema = {
  listen: { type: 'string', default: '127.0.0.1:5696', doc: 'listen address' },
  workers: { type: 'integer', default: 2, min: 1, max: 64, doc: 'workers' },
  fsync: { type: 'boolean', default: true, doc: 'fsync' },
  masterKeyFile: { type: 'string', secretFile: true, doc: 'master key path' },
} as const satisfies ConfigSchema

test('precedence is defaults < file < env < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cfg-'))
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ listen: 'file:1', workers: 4 }))
  const c = loadConfig(schema, {
    component: 'kms',
    file,
    env: { WARD_KMS_WORKERS: '8', WARD_KMS_FSYNC: 'false' },
    flags: { workers: 16 },
  })
  assert.equal(c.listen, 'file:1')
  assert.equal(c.workers, 16)
  assert.equal(c.fsync, false)
  assert.equal(c.masterKeyFile, undefined)
  assert.ok(Object.isFrozen(c))
})

test('unknown keys and bad values are all reported at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cfg-'))
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ lisen: 'x', workers: 0 }))
  assert.throws(
    () =>
      loadConfig(schema, {
        component: 'kms',
        file,
        env: { WARD_KMS_BOGUS: '1' },
        flags: { fsync: 'yes' },
      }),
    (e: Error & { code?: string; problems?: string[] }) => {
      assert.equal(e.code, 'ERR_CONFIG_INVALID')
      assert.equal(e.problems?.length, 4)
      return true
    },
  )
})
