import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import {
  sealArchive,
  openArchive,
  type ArchiveContents,
  type SecretName,
} from '../../src/config/archive.js'
import {
  formatEncryptionInfo,
  parseEncryptionInfo,
  verifyEncryptionInfo,
  kdfArchiveKey,
  type EncryptionInfoBody,
} from '../../src/config/encryption-info.js'
import {
  generateRecoveryKey,
  generateRecoveryId,
  normaliseRecoveryKey,
  recoveryWrappingKey,
} from '../../src/config/recovery-key.js'
import { backoffSeconds, FREE_ATTEMPTS, policyPcrs } from '../../src/index.js'
import {
  checkRecoveryAllowed,
  recordRecoveryFailure,
  resetRecoveryAttempts,
} from '../../src/config/recovery-attempts.js'
import { parseTpmSpec } from '../../src/index.js'
import { tempDir } from '../helpers/harness.js'
import { readFileBounded, shredFile } from '../../src/util/files.js'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const contents: ArchiveContents = {
  version: 2,
  hostId: 'h',
  identity: { algorithm: 'ECDSA-P256', publicKeySpki: 'AA==' },
  keyPersistence: { enabled: false },
}
const secretsOf = (): Map<SecretName, Secret> =>
  new Map<SecretName, Secret>([
    ['identity.pkcs8', new Secret(new Uint8Array([1, 2, 3]))],
    ['keystore.key', new Secret(new Uint8Array(32).fill(7))],
  ])

test('archive: AES-256-GCM round trip; any flipped byte, a wrong key or truncation is "Failed to decrypt system configuration."', () => {
  const key = new Secret(new Uint8Array(randomBytes(32)))
  const sealed = sealArchive(key, { contents, secrets: secretsOf() })
  const opened = openArchive(key, sealed)
  assert.deepEqual(opened.contents, contents)
  assert.deepEqual(
    [...opened.secrets].map(([n, s]) => [n, s.use((b) => Buffer.from(b).toString('hex'))]),
    [
      ['identity.pkcs8', '010203'],
      ['keystore.key', '07'.repeat(32)],
    ],
  )
  assert.equal(sealed.includes(Buffer.alloc(32, 7)), false)
  for (const i of [0, 8, 12, 20, sealed.length - 1]) {
    const bad = Buffer.from(sealed)
    bad[i]! ^= 0x80
    assert.throws(() => openArchive(key, bad), {
      code: 'ERR_HOST_CONFIG_DECRYPT',
      message: 'Failed to decrypt system configuration.',
    })
  }
  assert.throws(() => openArchive(new Secret(new Uint8Array(32)), sealed), {
    code: 'ERR_HOST_CONFIG_DECRYPT',
  })
  assert.throws(() => openArchive(key, sealed.subarray(0, 30)), { code: 'ERR_HOST_CONFIG_DECRYPT' })
})

test('encryption.info: MAC over the bytes read; edits and malformed files are refused', () => {
  const key = new Secret(new Uint8Array(randomBytes(32)))
  const body: EncryptionInfoBody = {
    format: 'ward-encryption-info',
    version: 2,
    mode: 'NONE',
    requireSecureBoot: false,
    requireExecInstalledOnly: false,
    kdf: { alg: 'HKDF-SHA256', salt: 'c2FsdA==', ikm: 'aWtt' },
  }
  const text = formatEncryptionInfo(body, key)
  const info = parseEncryptionInfo(Buffer.from(text))
  assert.deepEqual(info.body, body)
  assert.equal(verifyEncryptionInfo(info, key), true)
  assert.equal(verifyEncryptionInfo(info, new Secret(new Uint8Array(32))), false)
  const edited = parseEncryptionInfo(
    Buffer.from(text.replace('"requireSecureBoot":false', '"requireSecureBoot":true')),
  )
  assert.equal(verifyEncryptionInfo(edited, key), false)
  const spaced = parseEncryptionInfo(Buffer.from(text.replace('{"format"', '{ "format"')))
  assert.equal(verifyEncryptionInfo(spaced, key), false, 'never re-encoded before verifying')
  for (const bad of [
    '',
    'garbage',
    '{}\n' + '0'.repeat(64) + '\n',
    text.replace('"mode":"NONE"', '"mode":"OTHER"'),
    text.replace('"mode":"NONE"', '"mode":"NONE","generation":"5"'),
    text.slice(0, -3),
  ])
    assert.throws(() => parseEncryptionInfo(Buffer.from(bad)), { code: 'ERR_HOST_CONFIG_DECRYPT' })
  // format 1 (before generations) says so
  assert.throws(
    () => parseEncryptionInfo(Buffer.from(text.replace('"version":2', '"version":1'))),
    (e: { code: string; details: { reason: string } }) =>
      e.code === 'ERR_HOST_CONFIG_DECRYPT' && /format version 1/.test(e.details.reason),
  )
  // mode TPM: the generation is a decimal u64, the counter index and storage key name are given
  const tpmBody: EncryptionInfoBody = {
    format: 'ward-encryption-info',
    version: 2,
    mode: 'TPM',
    generation: '18446744073709551615',
    requireSecureBoot: true,
    requireExecInstalledOnly: false,
    tpm: {
      sealedPublic: 'AA==',
      sealedPrivate: 'AA==',
      pcrBank: 'sha256',
      pcrs: [7, 12],
      pcrPolicyDigest: '00'.repeat(32),
      policyDigest: '11'.repeat(32),
      nvIndex: 0x01805741,
      srkName: '000b' + '22'.repeat(32),
    },
    recovery: { id: '{X}', N: 16384, r: 8, p: 1, salt: 'AA==', wrappedKey: 'AA==' },
  }
  const tpmText = formatEncryptionInfo(tpmBody, key)
  assert.deepEqual(parseEncryptionInfo(Buffer.from(tpmText)).body, tpmBody)
  for (const g of ['18446744073709551616', '-1', '01', '1e3', ''])
    assert.throws(
      () =>
        parseEncryptionInfo(
          Buffer.from(tpmText.replace('"18446744073709551615"', JSON.stringify(g))),
        ),
      { code: 'ERR_HOST_CONFIG_DECRYPT' },
    )
  assert.throws(
    () => parseEncryptionInfo(Buffer.from(tpmText.replace('"18446744073709551615"', '5'))),
    { code: 'ERR_HOST_CONFIG_DECRYPT' },
  )
  assert.throws(() => parseEncryptionInfo(Buffer.alloc(70000, 0x20)), {
    code: 'ERR_HOST_CONFIG_DECRYPT',
  })
  // mode NONE: same KDF inputs, same key; different salt, different key
  const k1 = kdfArchiveKey(body.kdf!)
  assert.equal(k1.equals(kdfArchiveKey(body.kdf!)), true)
  assert.equal(k1.equals(kdfArchiveKey({ ...body.kdf!, salt: 'b3RoZXI=' })), false)
})

test('recovery key: 16 groups of 6 digits, GUID id in braces; typed forms normalise', () => {
  const text = (s: Secret): string => s.use((b) => Buffer.from(b).toString('latin1'))
  const k = text(generateRecoveryKey())
  assert.match(k, /^(\d{6}-){15}\d{6}$/)
  assert.notEqual(text(generateRecoveryKey()), k)
  assert.match(generateRecoveryId(), /^\{[0-9A-F]{8}-([0-9A-F]{4}-){3}[0-9A-F]{12}\}$/)
  const norm = (s: string): string => text(normaliseRecoveryKey(Buffer.from(s, 'latin1')))
  assert.equal(norm(` ${k.replaceAll('-', ' ')}\n`), k.replaceAll('-', ''))
  for (const bad of ['', '123', k.slice(1), `${k}-1`, k.replace(/\d/, 'a')])
    assert.throws(() => norm(bad), { code: 'ERR_HOST_RECOVERY_KEY_FORMAT' })
  // same key typed differently → same wrapping key
  const salt = randomBytes(16)
  const a = recoveryWrappingKey(new Secret(Buffer.from(k)), salt)
  assert.equal(
    a.equals(recoveryWrappingKey(new Secret(Buffer.from(k.replaceAll('-', ' ') + '\n')), salt)),
    true,
  )
  assert.equal(a.equals(recoveryWrappingKey(new Secret(Buffer.from(k)), randomBytes(16))), false)
})

test('recovery attempts: free attempts, then a doubling backoff persisted in the data folder', (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  assert.equal(backoffSeconds(0), 0)
  assert.equal(backoffSeconds(FREE_ATTEMPTS - 1), 0)
  assert.equal(backoffSeconds(FREE_ATTEMPTS), 30)
  assert.equal(backoffSeconds(FREE_ATTEMPTS + 1), 60)
  assert.equal(backoffSeconds(100), 3600)
  const now = 1_000_000_000
  for (let i = 0; i < FREE_ATTEMPTS; i++) {
    checkRecoveryAllowed(dir, now)
    recordRecoveryFailure(dir, now)
  }
  assert.throws(() => checkRecoveryAllowed(dir, now + 1000), {
    code: 'ERR_HOST_RECOVERY_RATE_LIMITED',
    message: /wait 29 s/,
  })
  checkRecoveryAllowed(dir, now + 30_000)
  resetRecoveryAttempts(dir)
  checkRecoveryAllowed(dir, now + 1)
})

test('policy PCRs follow the settings; --tpm values are parsed strictly', () => {
  assert.deepEqual(policyPcrs({ requireSecureBoot: false, requireExecInstalledOnly: false }), [12])
  assert.deepEqual(
    policyPcrs({ requireSecureBoot: true, requireExecInstalledOnly: true }),
    [7, 12, 13],
  )
  assert.deepEqual(parseTpmSpec('swtpm:127.0.0.1:2321'), {
    kind: 'swtpm',
    host: '127.0.0.1',
    port: 2321,
  })
  assert.deepEqual(parseTpmSpec('/dev/tpmrm0'), { kind: 'device', path: '/dev/tpmrm0' })
  assert.deepEqual(parseTpmSpec('none'), { kind: 'none' })
  for (const bad of ['swtpm:h', 'swtpm:h:0', 'swtpm:h:99999', '/etc/passwd', 'tpm'])
    assert.throws(() => parseTpmSpec(bad), { code: 'ERR_HOST_TPM_SPEC' })
})

test('a data file that is a symbolic link is refused with a coded error, not followed', (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  writeFileSync(join(dir, 'elsewhere'), 'x')
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'encryption.info'))
  assert.throws(() => readFileBounded(join(dir, 'encryption.info'), 100), {
    code: 'ERR_HOST_DATA_DIR',
    message: /symbolic link/,
  })
  // shredding removes the link itself, never its target
  assert.equal(shredFile(join(dir, 'encryption.info')), true)
  assert.equal(readFileSync(join(dir, 'elsewhere'), 'utf8'), 'x')
})
