import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { native } from '../../src/xts/native.js'

/*
 * The addon's sector loops call OpenSSL's provider implementation directly and keep EVP as the
 * fallback (native/ward_xts.c, "Per-sector cost"). Both must give the same bytes: a child with
 * WARD_XTS_EVP_ONLY runs the EVP path on the same inputs.
 */
const nativeJs = fileURLToPath(new URL('../../src/xts/native.js', import.meta.url))
const script = `
  const { native } = await import(${JSON.stringify(nativeJs)})
  const { createHash } = await import('node:crypto')
  const key = Uint8Array.from({ length: 64 }, (_, i) => (i * 29 + 5) & 255)
  const key2 = Uint8Array.from({ length: 64 }, (_, i) => (i * 13 + 200) & 255)
  const data = () => Uint8Array.from({ length: 3 * 1048576 }, (_, i) => (i * 7 + (i >> 9)) & 255)
  const h = createHash('sha256')
  for (const ss of [16, 512, 4096]) {
    const a = data(); native.sectors(true, key, a, 2 ** 33 + 3, ss); h.update(a)
    const b = data(); native.sectors(false, key, b, 9, ss); h.update(b)
    const c = data(); native.reencrypt(key, key2, c, 77, ss); h.update(c)
    const d = data(); await native.sectorsAsync(true, key, d, 5, ss); h.update(d)
  }
  const u = data().subarray(0, 1000); native.transform(true, key, key2.subarray(0, 16), u); h.update(u)
  console.log(JSON.stringify({ path: native.cipherPath, digest: h.digest('hex') }))
`

function run(env: NodeJS.ProcessEnv): { path: string; digest: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env,
  })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as { path: string; digest: string }
}

test('the provider path is in use and gives the same bytes as the EVP path', () => {
  assert.equal(native?.cipherPath, 'provider')
  const env = { ...process.env }
  delete env.WARD_XTS_EVP_ONLY
  const fast = run(env)
  const evp = run({ ...env, WARD_XTS_EVP_ONLY: '1' })
  assert.equal(fast.path, 'provider')
  assert.equal(evp.path, 'evp')
  assert.equal(fast.digest, evp.digest)
})
