// Without the addon (not built, or a broken/stale file in its place) the XTS module falls back
// to node:crypto, says so in xtsBackend(), and produces the same bytes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { xtsBackend, xtsEncryptSectors } from '../../src/xts/xts.js'

// The compiled package source (dist/src), copied away from native/build.
const distSrc = fileURLToPath(new URL('../../src/', import.meta.url))

interface XtsModule {
  xtsBackend(): string
  xtsEncryptSectors(k: Uint8Array, d: Uint8Array, f: number, s: number): void
  xtsEncryptSectorsAsync(k: Uint8Array, d: Uint8Array, f: number, s: number): Promise<void>
  xtsTransform(e: boolean, k: Uint8Array, t: Uint8Array, d: Uint8Array): void
}

async function isolatedCopy(dir: string, addon?: string): Promise<XtsModule> {
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  mkdirSync(join(dir, 'dist'), { recursive: true })
  cpSync(distSrc, join(dir, 'dist', 'src'), { recursive: true })
  if (addon !== undefined) {
    mkdirSync(join(dir, 'native/build/Release'), { recursive: true })
    writeFileSync(join(dir, 'native/build/Release/ward_xts.node'), addon)
  }
  return (await import(join(dir, 'dist/src/xts/xts.js'))) as XtsModule
}

test('no addon, or an unloadable one: node-crypto backend, identical output', async () => {
  assert.equal(xtsBackend(), 'native')
  for (const addon of [undefined, 'not an ELF file']) {
    const dir = mkdtempSync(join(tmpdir(), 'ward-xts-fallback-'))
    try {
      const m = await isolatedCopy(dir, addon)
      assert.equal(m.xtsBackend(), 'node-crypto', `addon=${addon ?? 'absent'}`)
      const key = randomBytes(64)
      const pt = randomBytes(4096 * 300)
      const want = Buffer.from(pt)
      xtsEncryptSectors(key, want, 77, 4096)
      const a = Buffer.from(pt)
      m.xtsEncryptSectors(key, a, 77, 4096)
      assert.ok(a.equals(want))
      const b = Buffer.from(pt)
      await m.xtsEncryptSectorsAsync(key, b, 77, 4096)
      assert.ok(b.equals(want))
      const tweak = randomBytes(16)
      const u1 = randomBytes(33)
      const u2 = Buffer.from(u1)
      m.xtsTransform(true, key, tweak, u1)
      const { xtsTransform } = await import('../../src/xts/xts.js')
      xtsTransform(true, key, tweak, u2)
      assert.ok(u1.equals(u2))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
})
