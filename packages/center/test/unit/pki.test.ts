import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { CENTER_CLIENT_OU, HOST_OU } from '@ward/host'
import { initCenterPki, loadCenterPki, PkiFiles, type CenterPki } from '../../src/pki/center-pki.js'
import { addressHost, signHostCsr } from '../../src/pki/sign-csr.js'

x509.cryptoProvider.set(webcrypto as never)

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ward-center-pki-'))

async function ecCsr(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=evil,OU=ward-center',
    keys,
    signingAlgorithm: alg,
  })
  return csr.toString('pem')
}

function openssl(args: string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** `openssl verify` of `certPem` against the PKI's CA with `purpose`; throws on failure. */
function opensslVerify(dir: string, pki: CenterPki, certPem: string, purpose: string): string {
  writeFileSync(join(dir, 'leaf.pem'), certPem)
  return openssl(
    [
      'verify',
      '-x509_strict',
      '-purpose',
      purpose,
      '-CAfile',
      join(pki.dir, PkiFiles.caCert),
      'leaf.pem',
    ],
    dir,
  )
}

test('initCenterPki: CA, server and client certificates; keys 0600; load gives the same PKI', async () => {
  const d = tmp()
  try {
    const pki = await initCenterPki(d, { serverNames: ['center.example', '10.0.0.5'] })
    for (const f of [PkiFiles.caKey, PkiFiles.serverKey, PkiFiles.clientKey])
      assert.equal(statSync(join(pki.dir, f)).mode & 0o777, 0o600, f)
    assert.equal(statSync(pki.dir).mode & 0o777, 0o700)
    const ca = new x509.X509Certificate(pki.caCertPem)
    assert.equal(ca.getExtension(x509.BasicConstraintsExtension)?.ca, true)
    assert.match(pki.caFingerprint, /^sha256:[0-9a-f]{64}$/)
    const server = new x509.X509Certificate(pki.server.certPem)
    const sans = server.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()
    assert.deepEqual(
      sans.map((n) => `${n.type}:${n.value}`).sort(),
      ['dns:center.example', 'dns:localhost', 'ip:10.0.0.5', 'ip:127.0.0.1', 'ip:::1'].sort(),
    )
    assert.deepEqual(
      [...(server.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.serverAuth],
    )
    const client = new x509.X509Certificate(pki.client.certPem)
    assert.deepEqual(
      [...(client.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.clientAuth],
    )
    assert.deepEqual(client.subjectName.getField('OU'), [CENTER_CLIENT_OU])
    // independent check: OpenSSL accepts both for their purposes
    assert.match(opensslVerify(d, pki, pki.server.certPem, 'sslserver'), /OK/)
    assert.match(opensslVerify(d, pki, pki.client.certPem, 'sslclient'), /OK/)
    assert.throws(() => opensslVerify(d, pki, pki.client.certPem, 'sslserver'))
    const again = await loadCenterPki(d)
    assert.equal(again.caCertPem, pki.caCertPem)
    assert.equal(again.client.keyPem, pki.client.keyPem)
    await assert.rejects(initCenterPki(d), { code: 'ERR_CENTER_PKI_EXISTS' })
    assert.equal(readFileSync(join(pki.dir, PkiFiles.caCert), 'utf8'), pki.caCertPem)
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('loadCenterPki refuses a missing PKI, a key readable by others, and a CA key of another CA', async () => {
  const d = tmp()
  const e = tmp()
  try {
    await assert.rejects(loadCenterPki(d), { code: 'ERR_CENTER_PKI_MISSING' })
    const pki = await initCenterPki(d)
    chmodSync(join(pki.dir, PkiFiles.caKey), 0o644)
    await assert.rejects(loadCenterPki(d), { code: 'ERR_SECRET_FILE' })
    chmodSync(join(pki.dir, PkiFiles.caKey), 0o600)
    const other = await initCenterPki(e)
    writeFileSync(join(pki.dir, PkiFiles.caKey), readFileSync(join(other.dir, PkiFiles.caKey)))
    await assert.rejects(loadCenterPki(d), { code: 'ERR_CENTER_PKI_INVALID' })
  } finally {
    rmSync(d, { recursive: true, force: true })
    rmSync(e, { recursive: true, force: true })
  }
})

test('signHostCsr: a host certificate (CN host id, OU ward-host, both EKUs, SANs) that OpenSSL verifies; the CSR subject is ignored', async () => {
  const d = tmp()
  try {
    const pki = await initCenterPki(d)
    const issued = await signHostCsr(pki, await ecCsr(), {
      hostId: 'host-1',
      name: 'esx1.example',
      address: '192.0.2.7:8443',
    })
    const c = new x509.X509Certificate(issued.certPem)
    assert.deepEqual(c.subjectName.getField('CN'), ['host-1'])
    assert.deepEqual(c.subjectName.getField('OU'), [HOST_OU])
    assert.deepEqual(
      [...(c.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
    )
    const sans = c.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()
    assert.deepEqual(
      sans.map((n) => `${n.type}:${n.value}`),
      ['url:urn:ward:host:host-1', 'ip:192.0.2.7', 'dns:esx1.example'],
    )
    assert.equal(c.serialNumber.replace(/^0+/, ''), issued.serial)
    assert.ok(issued.notAfter.getTime() > Date.now() + 300 * 86400_000)
    assert.equal(c.getExtension(x509.BasicConstraintsExtension)?.ca, false)
    assert.match(opensslVerify(d, pki, issued.certPem, 'sslclient'), /OK/)
    assert.match(opensslVerify(d, pki, issued.certPem, 'sslserver'), /OK/)
    // two certificates never share a serial
    const second = await signHostCsr(pki, await ecCsr(), {
      hostId: 'h2',
      name: 'h2',
      address: 'h2.example',
    })
    assert.notEqual(second.serial, issued.serial)
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('signHostCsr refuses a tampered CSR, garbage, a weak key and bad ids', async () => {
  const d = tmp()
  try {
    const pki = await initCenterPki(d)
    const opts = { hostId: 'host-1', name: 'h', address: '127.0.0.1:8443' }
    // flip one byte of the subject inside the signed part: the DER still parses
    const pem = await ecCsr()
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(pem).rawData)
    const at = der.indexOf(Buffer.from('evil'))
    assert.ok(at > 0)
    der[at] = 'E'.charCodeAt(0)
    const tampered = new x509.Pkcs10CertificateRequest(der).toString('pem')
    await assert.rejects(signHostCsr(pki, tampered, opts), { code: 'ERR_CENTER_CSR_SIGNATURE' })
    await assert.rejects(signHostCsr(pki, 'not a csr', opts), { code: 'ERR_CENTER_CSR_INVALID' })
    await assert.rejects(signHostCsr(pki, 'x'.repeat(20000), opts), {
      code: 'ERR_CENTER_CSR_INVALID',
    })
    // an RSA-1024 key and a secp256k1 key made by OpenSSL
    openssl(
      [
        'req',
        '-new',
        '-newkey',
        'rsa:1024',
        '-nodes',
        '-keyout',
        'k1.pem',
        '-subj',
        '/CN=x',
        '-out',
        'r1.csr',
      ],
      d,
    )
    await assert.rejects(signHostCsr(pki, readFileSync(join(d, 'r1.csr'), 'utf8'), opts), {
      code: 'ERR_CENTER_CSR_KEY',
    })
    openssl(['ecparam', '-name', 'secp256k1', '-genkey', '-noout', '-out', 'k2.pem'], d)
    openssl(['req', '-new', '-key', 'k2.pem', '-subj', '/CN=x', '-out', 'k2.csr'], d)
    await assert.rejects(signHostCsr(pki, readFileSync(join(d, 'k2.csr'), 'utf8'), opts), {
      code: 'ERR_CENTER_CSR_KEY',
    })
    // an OpenSSL RSA-3072 CSR is accepted and the certificate verifies
    openssl(
      [
        'req',
        '-new',
        '-newkey',
        'rsa:3072',
        '-nodes',
        '-keyout',
        'k3.pem',
        '-subj',
        '/CN=x',
        '-out',
        'r3.csr',
      ],
      d,
    )
    const rsa = await signHostCsr(pki, readFileSync(join(d, 'r3.csr'), 'utf8'), opts)
    assert.match(opensslVerify(d, pki, rsa.certPem, 'sslserver'), /OK/)
    const good = await ecCsr()
    for (const bad of [
      { ...opts, hostId: '' },
      { ...opts, hostId: 'a,OU=ward-center' },
      { ...opts, name: 'a\nb' },
      { ...opts, address: 'a b:1' },
      { ...opts, address: '[zz]:1' },
    ])
      await assert.rejects(signHostCsr(pki, good, bad), { code: 'ERR_CENTER_HOST_ID' })
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('addressHost', () => {
  assert.equal(addressHost('10.1.2.3:8443'), '10.1.2.3')
  assert.equal(addressHost('[::1]:8443'), '::1')
  assert.equal(addressHost('::1'), '::1')
  assert.equal(addressHost('host.example'), 'host.example')
  assert.equal(addressHost('host.example:1'), 'host.example')
  assert.equal(addressHost('a:b:c'), undefined)
  assert.equal(addressHost(''), undefined)
})
