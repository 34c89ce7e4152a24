// Regenerates kdfa-openssl.json and kdfe-openssl.json with the OpenSSL 3 CLI (KBKDF = SP 800-108
// counter-mode HMAC, SSKDF = SP 800-56C single-step hash KDF), an implementation independent of
// Ward's. Not run by the tests: `node generate-kdf-vectors.mjs` by hand, then review the diff.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'

const hex = (b) => Buffer.from(b).toString('hex')
const ossl = (args) =>
  execFileSync('openssl', ['kdf', ...args], { encoding: 'utf8' }).trim().replace(/:/g, '').toLowerCase()
const labels = ['ATH', 'CFB', 'SECRET', 'IDENTITY', 'STORAGE', 'INTEGRITY', 'DUPLICATE', 'OBFUSCATE']
const hashes = ['SHA1', 'SHA256', 'SHA384', 'SHA512']
const kdfa = []
const kdfe = []
let n = 0
for (const hash of hashes)
  for (const bytes of [16, 32, 48, 100]) {
    const label = labels[n++ % labels.length]
    const key = randomBytes(1 + (n % 40))
    const u = randomBytes(n % 3 === 0 ? 0 : 32)
    const v = randomBytes(n % 4 === 0 ? 0 : 20)
    // KDFa: HMAC([i]32 || label || 00 || u || v || [bits]32): KBKDF adds the 00 separator and [L]32
    kdfa.push({
      name: `kdfa-${hash}-${label}-${bytes * 8}`,
      source: 'OpenSSL 3.0 KBKDF (SP 800-108 counter mode, HMAC), TPM 2.0 Part 1 §11.4.10.2',
      hash: hash.toLowerCase(), key: hex(key), label, contextU: hex(u), contextV: hex(v), bits: bytes * 8,
      result: ossl(['-keylen', String(bytes), '-kdfopt', 'mac:HMAC', '-kdfopt', `digest:${hash}`, '-kdfopt', `hexkey:${hex(key)}`,
        '-kdfopt', `hexsalt:${hex(Buffer.from(label))}`, '-kdfopt', `hexinfo:${hex(Buffer.concat([u, v]))}`, 'KBKDF']),
    })
    // KDFe: H([i]32 || Z || label || 00 || u || v): SSKDF with OtherInfo = label || 00 || u || v
    const z = randomBytes(32)
    const info = Buffer.concat([Buffer.from(label), Buffer.alloc(1), u, v])
    kdfe.push({
      name: `kdfe-${hash}-${label}-${bytes * 8}`,
      source: 'OpenSSL 3.0 SSKDF (SP 800-56C single-step, hash), TPM 2.0 Part 1 §11.4.10.3',
      hash: hash.toLowerCase(), z: hex(z), label, partyUInfo: hex(u), partyVInfo: hex(v), bits: bytes * 8,
      result: ossl(['-keylen', String(bytes), '-kdfopt', `digest:${hash}`, '-kdfopt', `hexkey:${hex(z)}`, '-kdfopt', `hexinfo:${hex(info)}`, 'SSKDF']),
    })
  }
writeFileSync(new URL('./kdfa-openssl.json', import.meta.url), JSON.stringify(kdfa, null, 1) + '\n')
writeFileSync(new URL('./kdfe-openssl.json', import.meta.url), JSON.stringify(kdfe, null, 1) + '\n')
