/**
 * The native key provider's backup file: a password-protected PKCS#12 (RFC 7292) holding one
 * SecretBag, built with node:crypto and the ASN.1 schemas of @peculiar/asn1-pfx (docs/formats.md,
 * "Native key provider backup"):
 * - PFX v3, authSafe = id-data, MAC = HMAC-SHA256 with the PKCS#12 key derivation (RFC 7292
 *   appendix B, ID 3, SHA-256), 32-byte salt, {@link Pkcs12Params.macIterations};
 * - AuthenticatedSafe = one id-encryptedData, PBES2 (PBKDF2-HMAC-SHA256, 16-byte salt,
 *   {@link Pkcs12Params.kdfIterations}; AES-256-CBC) over SafeContents = one SecretBag
 *   (secretTypeId id-data, value an OCTET STRING of the provider's record in JSON, UTF-8) with a
 *   friendlyName (the provider's name).
 * `openssl pkcs12 -info` reads it with the password.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto'
import {
  AuthenticatedSafe,
  MacData,
  PFX,
  PKCS12Attribute,
  SafeBag,
  SafeContents,
  SecretBag,
  id_SecretBag,
} from '@peculiar/asn1-pfx'
import { ContentInfo, EncryptedContent, EncryptedContentInfo } from '@peculiar/asn1-cms'
import { DigestInfo } from '@peculiar/asn1-rsa'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { CenterError } from '../../errors.js'

export const Pkcs12Params = {
  kdfIterations: 100_000,
  macIterations: 10_000,
  /** Largest iteration count accepted in a file (a bigger one is refused, not computed). */
  maxIterations: 10_000_000,
} as const

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  friendlyName: '1.2.840.113549.1.9.20',
} as const

// --- a little DER, for what asn1-pfx has no schema of (PBES2 parameters, EncryptedData) ---

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const b: number[] = []
  for (let v = n; v > 0; v >>= 8) b.unshift(v & 0xff)
  return Buffer.from([0x80 | b.length, ...b])
}
const tlv = (tag: number, ...content: Uint8Array[]): Buffer => {
  const c = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), len(c.length), c])
}
const seq = (...c: Uint8Array[]): Buffer => tlv(0x30, ...c)
const octets = (b: Uint8Array): Buffer => tlv(0x04, b)
function int(n: number): Buffer {
  const b: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) b.unshift(v & 0xff)
  if (b.length === 0 || b[0]! & 0x80) b.unshift(0)
  return tlv(0x02, Buffer.from(b))
}
function oid(s: string): Buffer {
  const p = s.split('.').map(Number)
  const out = [40 * p[0]! + p[1]!]
  for (const v of p.slice(2)) {
    const enc = [v & 0x7f]
    for (let x = v >>> 7; x > 0; x >>>= 7) enc.unshift(0x80 | (x & 0x7f))
    out.push(...enc)
  }
  return tlv(0x06, Buffer.from(out))
}

interface Node {
  tag: number
  /** the whole TLV */
  raw: Buffer
  content: Buffer
}
function read(b: Buffer, at = 0): Node {
  const bad = (): CenterError => malformed('bad DER')
  if (at + 2 > b.length) throw bad()
  const tag = b[at]!
  let n = b[at + 1]!
  let off = at + 2
  if (n & 0x80) {
    const k = n & 0x7f
    if (k === 0 || k > 4 || off + k > b.length) throw bad()
    n = 0
    for (let i = 0; i < k; i++) n = n * 256 + b[off + i]!
    off += k
  }
  if (off + n > b.length) throw bad()
  return { tag, raw: b.subarray(at, off + n), content: b.subarray(off, off + n) }
}
function children(n: Node): Node[] {
  const out: Node[] = []
  for (let at = 0; at < n.content.length;) {
    const c = read(n.content, at)
    out.push(c)
    at += c.raw.length
  }
  return out
}
function readInt(n: Node): number {
  if (n.tag !== 0x02 || n.content.length === 0 || n.content.length > 6)
    throw malformed('bad INTEGER')
  let v = 0
  for (const x of n.content) v = v * 256 + x
  return v
}
const readOid = (n: Node): string => {
  if (n.tag !== 0x06) throw malformed('bad OID')
  return decodeOid(n.content)
}
function decodeOid(c: Buffer): string {
  if (c.length === 0) return ''
  const out = [Math.floor(c[0]! / 40), c[0]! % 40]
  let v = 0
  for (const x of c.subarray(1)) {
    v = v * 128 + (x & 0x7f)
    if (!(x & 0x80)) {
      out.push(v)
      v = 0
    }
  }
  return out.join('.')
}

function malformed(why: string): CenterError {
  return new CenterError(
    'ERR_CENTER_NKP_BACKUP_FORMAT',
    `the file is not a native key provider backup of this center (${why}); give the .p12 file that export downloaded`,
  )
}
const wrongPassword = (): CenterError =>
  new CenterError(
    'ERR_CENTER_NKP_BACKUP_PASSWORD',
    'the password does not open this backup (its MAC does not verify); give the password used at export',
  )

const ab = (b: Uint8Array): ArrayBuffer => Uint8Array.from(b).buffer

/** RFC 7292 appendix B.2 with SHA-256 (u = 32, v = 64): `n` bytes of key material of `id`. */
export function pkcs12Kdf(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  id: number,
  n: number,
): Buffer {
  const u = 32
  const v = 64
  // the password as a BMPString with its two-zero-byte terminator
  const text = Buffer.from(password).toString('utf8')
  const bmp = Buffer.alloc((text.length + 1) * 2)
  for (let i = 0; i < text.length; i++) bmp.writeUInt16BE(text.charCodeAt(i), i * 2)
  const fill = (s: Uint8Array): Buffer => {
    if (s.length === 0) return Buffer.alloc(0)
    const out = Buffer.alloc(v * Math.ceil(s.length / v))
    for (let i = 0; i < out.length; i++) out[i] = s[i % s.length]!
    return out
  }
  const D = Buffer.alloc(v, id)
  const I = Buffer.concat([fill(salt), fill(bmp)])
  bmp.fill(0)
  const out: Buffer[] = []
  for (let got = 0; got < n; got += u) {
    let A = createHash('sha256').update(D).update(I).digest()
    for (let r = 1; r < iterations; r++) A = createHash('sha256').update(A).digest()
    out.push(A)
    const B = fill(A.subarray(0, u)).subarray(0, v)
    for (let j = 0; j < I.length; j += v) {
      let carry = 1
      for (let k = v - 1; k >= 0; k--) {
        const x = I[j + k]! + B[k]! + carry
        I[j + k] = x & 0xff
        carry = x >> 8
      }
    }
  }
  I.fill(0)
  return Buffer.concat(out).subarray(0, n)
}

/** PKCS#12 around `record` (bytes, e.g. JSON) under `password`; `name` is its friendlyName. */
export function buildPkcs12(record: Uint8Array, name: string, password: Uint8Array): Buffer {
  // SafeContents: one SecretBag
  const secret = new SecretBag({
    secretTypeId: OID.data,
    secretValue: ab(octets(record)),
  })
  const bmpName = Buffer.alloc(name.length * 2)
  for (let i = 0; i < name.length; i++) bmpName.writeUInt16BE(name.charCodeAt(i), i * 2)
  // asn1-pfx 2.11's PKCS12Attribute constructor drops its parameters: set the fields
  const friendlyName = new PKCS12Attribute()
  friendlyName.attrId = OID.friendlyName
  friendlyName.attrValues = [ab(tlv(0x1e, bmpName))]
  const bag = new SafeBag({
    bagId: id_SecretBag,
    bagValue: AsnConvert.serialize(secret),
    bagAttributes: [friendlyName],
  })
  const contents = Buffer.from(AsnConvert.serialize(new SafeContents([bag])))
  // PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC
  const salt = randomBytes(16)
  const iv = randomBytes(16)
  const key = pbkdf2Sync(password, salt, Pkcs12Params.kdfIterations, 32, 'sha256')
  const c = createCipheriv('aes-256-cbc', key, iv)
  const ct = Buffer.concat([c.update(contents), c.final()])
  key.fill(0)
  contents.fill(0)
  const pbes2 = seq(
    seq(
      oid(OID.pbkdf2),
      seq(octets(salt), int(Pkcs12Params.kdfIterations), seq(oid(OID.hmacSha256), tlv(0x05))),
    ),
    seq(oid(OID.aes256Cbc), octets(iv)),
  )
  const eci = new EncryptedContentInfo({
    contentType: OID.data,
    contentEncryptionAlgorithm: new AlgorithmIdentifier({
      algorithm: OID.pbes2,
      parameters: ab(pbes2),
    }),
    encryptedContent: new EncryptedContent({ value: new OctetString(ab(ct)) }),
  })
  const encryptedData = seq(int(0), Buffer.from(AsnConvert.serialize(eci)))
  const authSafe = Buffer.from(
    AsnConvert.serialize(
      new AuthenticatedSafe([
        new ContentInfo({ contentType: OID.encryptedData, content: ab(encryptedData) }),
      ]),
    ),
  )
  // MAC over the authSafe's content
  const macSalt = randomBytes(32)
  const macKey = pkcs12Kdf(password, macSalt, Pkcs12Params.macIterations, 3, 32)
  const mac = createHmac('sha256', macKey).update(authSafe).digest()
  macKey.fill(0)
  const pfx = new PFX({
    version: 3,
    authSafe: new ContentInfo({ contentType: OID.data, content: ab(octets(authSafe)) }),
    macData: new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null }),
        digest: new OctetString(ab(mac)),
      }),
      macSalt: new OctetString(ab(macSalt)),
      iterations: Pkcs12Params.macIterations,
    }),
  })
  return Buffer.from(AsnConvert.serialize(pfx))
}

const iterationsOk = (n: number): number => {
  if (n < 1 || n > Pkcs12Params.maxIterations) throw malformed(`iteration count ${n}`)
  return n
}

/**
 * Open what {@link buildPkcs12} made (or an equivalent file): the MAC is checked first (a wrong
 * password is ERR_CENTER_NKP_BACKUP_PASSWORD), then the SecretBag's record and friendlyName.
 */
export function openPkcs12(
  file: Uint8Array,
  password: Uint8Array,
): { record: Buffer; name: string } {
  let pfx: PFX
  try {
    pfx = AsnConvert.parse(file, PFX)
  } catch {
    throw malformed('not a PKCS#12 PFX')
  }
  if (pfx.version !== 3 || pfx.authSafe.contentType !== OID.data) throw malformed('not a v3 PFX')
  if (pfx.macData === undefined) throw malformed('no MAC: it was not password-protected')
  const authSafeOctets = read(Buffer.from(pfx.authSafe.content))
  if (authSafeOctets.tag !== 0x04) throw malformed('authSafe is not data')
  const authSafe = authSafeOctets.content
  const md = pfx.macData
  if (md.mac.digestAlgorithm.algorithm !== OID.sha256) throw malformed('MAC is not HMAC-SHA256')
  const macKey = pkcs12Kdf(
    password,
    Buffer.from(md.macSalt.buffer),
    iterationsOk(md.iterations),
    3,
    32,
  )
  const mac = createHmac('sha256', macKey).update(authSafe).digest()
  macKey.fill(0)
  const want = Buffer.from(md.mac.digest.buffer)
  if (want.length !== mac.length || !timingSafeEqual(want, mac)) throw wrongPassword()
  let safe: AuthenticatedSafe
  try {
    safe = AsnConvert.parse(authSafe, AuthenticatedSafe)
  } catch {
    throw malformed('bad AuthenticatedSafe')
  }
  for (const ci of safe) {
    if (ci.contentType !== OID.encryptedData) continue
    const ed = children(read(Buffer.from(ci.content)))
    if (ed.length < 2 || readInt(ed[0]!) !== 0) throw malformed('bad EncryptedData')
    const eci = AsnConvert.parse(ed[1]!.raw, EncryptedContentInfo)
    if (eci.contentEncryptionAlgorithm.algorithm !== OID.pbes2) throw malformed('not PBES2')
    const params = eci.contentEncryptionAlgorithm.parameters
    if (!(params instanceof ArrayBuffer)) throw malformed('no PBES2 parameters')
    const [kdf, enc] = children(read(Buffer.from(params)))
    if (kdf === undefined || enc === undefined) throw malformed('bad PBES2 parameters')
    const [kdfOid, kdfParams] = children(kdf)
    const [encOid, ivNode] = children(enc)
    if (readOid(kdfOid!) !== OID.pbkdf2 || readOid(encOid!) !== OID.aes256Cbc)
      throw malformed('not PBKDF2 with AES-256-CBC')
    const kp = children(kdfParams!)
    const saltNode = kp[0]!
    const iterations = iterationsOk(readInt(kp[1]!))
    const prf = kp.find((n) => n.tag === 0x30)
    if (prf === undefined || readOid(children(prf)[0]!) !== OID.hmacSha256)
      throw malformed('PBKDF2 is not HMAC-SHA256')
    if (saltNode.tag !== 0x04 || ivNode?.tag !== 0x04 || ivNode.content.length !== 16)
      throw malformed('bad salt or IV')
    const ct = eci.encryptedContent?.value
    if (ct === undefined) throw malformed('no encrypted content')
    const key = pbkdf2Sync(password, saltNode.content, iterations, 32, 'sha256')
    let contents: Buffer
    try {
      const d = createDecipheriv('aes-256-cbc', key, ivNode.content)
      contents = Buffer.concat([d.update(Buffer.from(ct.buffer)), d.final()])
    } catch {
      throw wrongPassword()
    } finally {
      key.fill(0)
    }
    const bags = AsnConvert.parse(contents, SafeContents)
    for (const b of bags) {
      if (b.bagId !== id_SecretBag) continue
      const sb = AsnConvert.parse(b.bagValue, SecretBag)
      const v = read(Buffer.from(sb.secretValue))
      if (sb.secretTypeId !== OID.data || v.tag !== 0x04) throw malformed('unknown secret type')
      const fn = b.bagAttributes?.find((a) => a.attrId === OID.friendlyName)?.attrValues[0]
      let name = ''
      if (fn !== undefined) {
        const n = read(Buffer.from(fn))
        for (let i = 0; i + 1 < n.content.length; i += 2)
          name += String.fromCharCode(n.content.readUInt16BE(i))
      }
      const record = Buffer.from(v.content)
      contents.fill(0)
      return { record, name }
    }
    contents.fill(0)
  }
  throw malformed('no secret bag')
}
