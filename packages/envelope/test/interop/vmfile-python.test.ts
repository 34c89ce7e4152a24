import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { encryptVmFile, parseVmFileHeader } from '../../src/index.js'

/*
 * Independent check of the documented VM file format (docs/formats.md "VM files") with Debian's
 * python3-cryptography: Python gets the KEK and the raw file, parses the header itself, unwraps
 * the DEK with RFC 5649 KWP and decrypts chunks with plain AES-256-GCM.
 */
const PY = String.raw`
import sys, json, struct
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
a = json.load(sys.stdin)
kek, data, vm_id = bytes.fromhex(a["kek"]), open(a["path"], "rb").read(), a["vmId"].encode()
assert data[:7] == b"WARDVMF"
off = 7
version, role, cipher, chunk = struct.unpack(">HBBI", data[off:off + 8]); off += 8
ids = []
for _ in range(2):
    n = data[off]; ids.append(data[off + 1:off + 1 + n].decode()); off += 1 + n
wrapped = data[off:off + 40]; off += 40
prefix = data[off:off + 7]; off += 7
header = data[:off]
dek = aes_key_unwrap_with_padding(kek, wrapped)
aad = header + struct.pack(">H", len(vm_id)) + vm_id
body = data[off:]
stored = chunk + 16
count = -(-len(body) // stored)
out = []
for i in range(count):
    nonce = prefix + struct.pack(">I", i) + bytes([1 if i == count - 1 else 0])
    out.append(AESGCM(dek).decrypt(nonce, body[i * stored:(i + 1) * stored], aad))
# The last-chunk flag matters: chunk 0 must not open as a last chunk.
try:
    AESGCM(dek).decrypt(prefix + struct.pack(">I", 0) + b"\x01", body[:stored], aad)
    flag = "ignored"
except Exception:
    flag = "enforced"
print(json.dumps({"version": version, "role": role, "cipher": cipher, "chunkSize": chunk, "providerId": ids[0],
                  "kekId": ids[1], "chunks": count, "sha": __import__("hashlib").sha256(b"".join(out)).hexdigest(), "flag": flag}))
`

test('python3-cryptography decrypts a Ward VM file from the documented format', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-interop-vmfile-'))
  try {
    const kek = new Uint8Array(randomBytes(32))
    const plain = randomBytes(3 * 4096 + 999)
    writeFileSync(join(dir, 'plain'), plain)
    await encryptVmFile(join(dir, 'plain'), join(dir, 'enc'), kek, {
      vmId: 'vm-interop-1',
      role: 'snapshot-memory',
      providerId: 'kp-x',
      kekId: 'kek-y',
      chunkSize: 4096,
    })
    const r = spawnSync('/usr/bin/python3', ['-c', PY], {
      input: JSON.stringify({
        kek: Buffer.from(kek).toString('hex'),
        path: join(dir, 'enc'),
        vmId: 'vm-interop-1',
      }),
      encoding: 'utf8',
    })
    assert.equal(r.status, 0, r.stderr)
    const got = JSON.parse(r.stdout) as Record<string, unknown>
    assert.deepEqual(got, {
      version: 1,
      role: 2, // index of 'snapshot-memory' in VM_FILE_ROLES
      cipher: 0, // aes-256-gcm
      chunkSize: 4096,
      providerId: 'kp-x',
      kekId: 'kek-y',
      chunks: 4,
      sha: createHash('sha256').update(plain).digest('hex'),
      flag: 'enforced',
    })
    assert.equal(
      parseVmFileHeader(new Uint8Array(readFileSync(join(dir, 'enc')))).header.role,
      'snapshot-memory',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
