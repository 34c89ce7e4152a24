import { parseXml, type XmlElement } from '../encoding/xml-parser.js'
import { ttlvFromXmlElement } from '../encoding/xml.js'
import {
  childContext,
  isoFromSeconds,
  itemFromText,
  tagFromName,
  toHex,
  type ValueContext,
} from '../encoding/values.js'
import { Tag, tagNameOf } from '../tables/tags.js'
import { decodeTtlv } from '../ttlv/decode.js'
import { encodeTtlv } from '../ttlv/encode.js'
import type { TtlvItem, TtlvType } from '../ttlv/item.js'

/** Outcome of replaying one OASIS test case. */
export interface ConformanceResult {
  readonly passed: boolean
  /** Request/response pairs replayed. */
  readonly steps: number
  /** 1-based index of the first failing pair. */
  readonly failedStep?: number
  /** Why it failed: path in the response and the difference. */
  readonly reason?: string
}

type Bindings = Map<string, string>

/** Text form of a leaf, for binding placeholders. */
function leafText(item: TtlvItem): string {
  switch (item.type) {
    case 'ByteString':
      return toHex(item.value)
    case 'DateTime':
      return isoFromSeconds(item.value)
    case 'Structure':
      return ''
    default:
      return String(item.value)
  }
}

const isType = (t: string): t is Exclude<TtlvType, 'Structure'> => t !== 'Structure'

function nowOffset(v: string): string | undefined {
  const m = /^\$NOW(?:([+-])(\d+))?$/.exec(v)
  if (m === null) return undefined
  const off = m[2] === undefined ? 0 : Number(m[2]) * (m[1] === '-' ? -1 : 1)
  return isoFromSeconds(BigInt(Math.floor(Date.now() / 1000) + off))
}

class Mismatch extends Error {}

const latestName = new Map<number, string>([
  [Tag.IVCounterNonce, '$IV_COUNTER_NONCE'],
  [Tag.AuthenticatedEncryptionTag, '$AUTHENTICATED_ENCRYPTION_TAG'],
  [Tag.SignatureData, '$SIGNATURE_DATA'],
  [Tag.MACData, '$MAC_DATA'],
  [Tag.CorrelationValue, '$CORRELATION_VALUE'],
])

/** Short label of an expected field: its name, or the attribute it carries. */
function describeEl(e: XmlElement): string {
  const an = e.children.find((c) => c.name === 'AttributeName')?.attrs['value']
  return an !== undefined && e.name === 'Attribute' ? `Attribute(${an})` : e.name
}

function describeItem(i: TtlvItem): string {
  const name = tagNameOf(i.tag) ?? `0x${i.tag.toString(16)}`
  if (i.type === 'Structure' && i.tag === Tag.Attribute) {
    const an = i.value.find((c) => c.tag === Tag.AttributeName)
    if (an?.type === 'TextString') return `Attribute(${an.value})`
  }
  return name
}

function elTag(el: XmlElement): number | undefined {
  return el.name === 'TTLV' ? tagFromName(el.attrs['tag'] ?? '') : tagFromName(el.name)
}

function attributeNameOf(el: XmlElement): string | undefined {
  return el.children.find((c) => c.name === 'AttributeName')?.attrs['value']
}

/** Compares an expected response element with the actual item, binding placeholders. */
function compare(
  el: XmlElement,
  item: TtlvItem,
  b: Bindings,
  path: string,
  ctx: ValueContext | undefined,
): void {
  const here = `${path}/${el.name}`
  if (elTag(el) !== item.tag) throw new Mismatch(`${here}: got tag 0x${item.tag.toString(16)}`)
  const type = el.attrs['type'] ?? 'Structure'
  if (type !== item.type) throw new Mismatch(`${here}: expected ${type}, got ${item.type}`)
  if (item.type === 'Structure') {
    if (item.tag === Tag.ServerInformation) return // server-specific content
    // which RNG a server uses is its own (KMIP 1.4 §3.44): the attribute must be there, any value
    if (item.tag === Tag.RandomNumberGenerator) return
    if (item.tag === Tag.Attribute && attributeNameOf(el) === 'Random Number Generator') {
      const name = item.value.find((c) => c.tag === Tag.AttributeName)
      if (name?.type === 'TextString' && name.value === 'Random Number Generator') return
      throw new Mismatch(`${here}: expected the Random Number Generator attribute`)
    }
    let expected = el.children
    let actual = item.value
    if (item.tag === Tag.ResponseHeader) {
      // time stamps, nonces and correlation values are the server's: compare version and count
      const keep = new Set<number>([Tag.ProtocolVersion, Tag.BatchCount])
      expected = expected.filter((c) => keep.has(elTag(c) ?? -1))
      actual = actual.filter((c) => keep.has(c.tag))
    }
    if (item.tag === Tag.BatchItem) {
      const st = actual.find((c) => c.tag === Tag.ResultStatus)
      const wantSt = expected.find((c) => elTag(c) === Tag.ResultStatus)?.attrs['value']
      if (st?.type === 'Enumeration' && st.value !== 0 && wantSt === 'Success') {
        const rr = actual.find((c) => c.tag === Tag.ResultReason)
        const rm = actual.find((c) => c.tag === Tag.ResultMessage)
        throw new Mismatch(
          `${here}: server failed (status ${st.value}, reason ${rr ? leafText(rr) : '?'}: ${rm ? leafText(rm) : ''})`,
        )
      }
    }
    if (expected.length !== actual.length) {
      const want = expected.map(describeEl)
      const got = actual.map(describeItem)
      const missing = want.filter((w) => !got.includes(w))
      const extra = got.filter((g) => !want.includes(g))
      throw new Mismatch(
        `${here}: expected ${expected.length} fields, got ${actual.length}` +
          (missing.length > 0 ? `; missing ${missing.join(', ')}` : '') +
          (extra.length > 0 ? `; unexpected ${extra.join(', ')}` : ''),
      )
    }
    const sem = childContext(
      el.children.map((c) => ({
        tag: elTag(c) ?? -1,
        type: c.attrs['type'] ?? 'Structure',
        value: c.attrs['value'],
      })),
    )
    // fields are compared in order first; attribute lists may come back in another order
    const used = new Set<number>()
    for (const [i, e] of expected.entries()) {
      const cctx =
        sem !== undefined && elTag(e) === Tag.AttributeValue ? { semanticTag: sem } : undefined
      const order = [i, ...actual.keys()].filter((k, j, arr) => arr.indexOf(k) === j)
      let firstErr: unknown
      let ok = false
      for (const k of order) {
        if (used.has(k)) continue
        const trial = new Map(b)
        try {
          compare(e, actual[k]!, trial, here, cctx)
        } catch (err) {
          if (!(err instanceof Mismatch)) throw err
          firstErr ??= err
          continue
        }
        for (const [kk, vv] of trial) b.set(kk, vv)
        used.add(k)
        ok = true
        break
      }
      if (!ok)
        throw firstErr instanceof Mismatch
          ? firstErr
          : new Mismatch(`${here}: no match for ${e.name}`)
    }
    return
  }
  const v = el.attrs['value'] ?? ''
  if (item.tag === Tag.ResultMessage) return // free text
  // later requests refer to the latest of these outputs by a conventional name, literal or not
  const conventional = latestName.get(item.tag)
  if (conventional !== undefined && item.type === 'ByteString') b.set(conventional, leafText(item))
  if (item.type === 'DateTime' || item.type === 'DateTimeExtended') return // server clock
  if (
    /^\$(IV_COUNTER_NONCE|AUTHENTICATED_ENCRYPTION_TAG|SIGNATURE_DATA|MAC_DATA|CORRELATION_VALUE)$/.test(
      v,
    )
  ) {
    // the test cases reuse these names for each new output: the latest value is the one referred to
    b.set(v, leafText(item))
    return
  }
  if (v.startsWith('$~')) {
    // a random output the test case refers to by its conventional name ($DATA_0, $IV_COUNTER_NONCE...)
    b.set('$' + v.slice(2), leafText(item))
    return
  }
  if (v.startsWith('$')) {
    const bound = b.get(v)
    const got = leafText(item)
    if (bound === undefined) b.set(v, got)
    else if (bound !== got) throw new Mismatch(`${here}: ${v} is ${bound}, got ${got}`)
    return
  }
  if (!isType(type)) return
  const want = itemFromText(item.tag, type, v, ctx)
  const a = leafText(want)
  const g = leafText(item)
  if (a !== g) throw new Mismatch(`${here}: expected ${a}, got ${g}`)
}

const randomTags = new Set<number>([
  Tag.Data,
  Tag.SignatureData,
  Tag.IVCounterNonce,
  Tag.AuthenticatedEncryptionTag,
])

function values(el: XmlElement, name: string): string[] {
  const out: string[] = []
  const walk = (e: XmlElement): void => {
    if (e.name === name && e.attrs['value'] !== undefined) out.push(e.attrs['value'])
    e.children.forEach(walk)
  }
  walk(el)
  return out
}

/**
 * Whether a request batch item produces random output (the reference ciphertext/signature cannot
 * be matched byte for byte): RSA OAEP / PKCS#1 v1.5 encryption, PSS and ECDSA signatures, or a
 * server-generated IV.
 */
function randomOutput(batchItem: XmlElement, docPads: readonly string[]): boolean {
  const op = values(batchItem, 'Operation')[0]
  // padding may also come from the key's Cryptographic Parameters attribute, set earlier in the case
  const pads = [...values(batchItem, 'PaddingMethod'), ...docPads]
  const algs = [
    ...values(batchItem, 'DigitalSignatureAlgorithm'),
    ...values(batchItem, 'CryptographicAlgorithm'),
  ]
  if (values(batchItem, 'RandomIV').includes('true') || op === 'RNGRetrieve') return true
  if (op === 'Encrypt' && pads.some((p) => p === 'OAEP' || p === 'PKCS1v1_5' || p === '$RandomIV'))
    return true
  if (op === 'Sign' && (pads.includes('PSS') || algs.some((a) => /ECDSA|^EC$|PSS/i.test(a))))
    return true
  return false
}

const creating = new Set([
  'Create',
  'CreateKeyPair',
  'ReKey',
  'ReKeyKeyPair',
  'DeriveKey',
  'CreateSplitKey',
])
// GetAttributes: the Digest of a server-generated key is a hash of random bytes
const usingKey = new Set(['Get', 'GetAttributes', 'Encrypt', 'MAC', 'Sign', 'Export'])

/**
 * Whether the request works on key material the server generated (Create, Re-key...): the
 * reference run's key bytes, ciphertexts and MACs differ from ours by construction.
 */
function usesServerKey(batchItem: XmlElement, created: ReadonlySet<string>): boolean {
  if (!usingKey.has(values(batchItem, 'Operation')[0] ?? '')) return false
  const payload = batchItem.children.find((c) => c.name === 'RequestPayload')
  const uid = payload?.children.find((c) => c.name === 'UniqueIdentifier')?.attrs['value']
  return uid === undefined ? created.size > 0 : created.has(uid)
}

/** Placeholders naming objects that a creating operation returned (expected response side). */
function collectCreated(expected: XmlElement, request: XmlElement, created: Set<string>): void {
  const reqItems = request.children.filter((c) => c.name === 'BatchItem')
  const respItems = expected.children.filter((c) => c.name === 'BatchItem')
  reqItems.forEach((r, i) => {
    if (!creating.has(values(r, 'Operation')[0] ?? '')) return
    const resp = respItems[i]
    if (resp === undefined) return
    for (const n of [
      'UniqueIdentifier',
      'PrivateKeyUniqueIdentifier',
      'PublicKeyUniqueIdentifier',
    ]) {
      for (const v of values(resp, n)) if (v.startsWith('$')) created.add(v)
    }
  })
}

/** Replaces the random leaves of the expected response batch items with fresh placeholders. */
function relaxRandom(
  expected: XmlElement,
  request: XmlElement,
  step: number,
  created: ReadonlySet<string>,
  docPads: readonly string[],
  counters: { data: number; key: number },
): XmlElement {
  const reqItems = request.children.filter((c) => c.name === 'BatchItem')
  let n = 0
  const fresh = (e: XmlElement): XmlElement => {
    const v = e.attrs['value'] ?? ''
    if (v.startsWith('$')) return e // already a placeholder: bound by compare
    const conventional: Record<string, () => string> = {
      Data: () => `$~DATA_${counters.data++}`,
      IVCounterNonce: () => '$~IV_COUNTER_NONCE',
      AuthenticatedEncryptionTag: () => '$~AUTHENTICATED_ENCRYPTION_TAG',
      SignatureData: () => '$~SIGNATURE_DATA',
      MACData: () => '$~MAC_DATA',
      KeyMaterial: () => `$~KEY_MATERIAL_${counters.key++}`,
    }
    const name = conventional[e.name]?.() ?? `$RANDOM_${step}_${n++}`
    return { ...e, attrs: { ...e.attrs, value: name } }
  }
  const relax = (e: XmlElement, keyBytes: boolean, inKey = false): XmlElement => {
    const t = elTag(e) ?? -1
    const type = e.attrs['type']
    if (
      type === 'ByteString' &&
      (randomTags.has(t) ||
        (keyBytes &&
          (inKey || t === Tag.KeyMaterial || t === Tag.MACData || t === Tag.DigestValue)))
    )
      return fresh(e)
    if (keyBytes && inKey && type === 'BigInteger') return fresh(e)
    return {
      ...e,
      children: e.children.map((c) => relax(c, keyBytes, inKey || t === Tag.KeyMaterial)),
    }
  }
  let k = 0
  return {
    ...expected,
    children: expected.children.map((c) => {
      if (c.name !== 'BatchItem') return c
      const r = reqItems[k++]
      if (r === undefined) return c
      const serverKey = usesServerKey(r, created)
      return randomOutput(r, docPads) || serverKey ? relax(c, serverKey) : c
    }),
  }
}

/**
 * Replays an OASIS KMIP test case (XML `<KMIP>` document of RequestMessage/ResponseMessage
 * pairs): each request is encoded (placeholders filled from earlier responses, `$NOW±n` from the
 * clock) and sent with `send`; each response is compared with the expected one modulo
 * placeholders, time stamps, server information and result message text.
 */
export async function replayTestCase(
  xml: string,
  send: (request: Uint8Array) => Promise<Uint8Array>,
): Promise<ConformanceResult> {
  const root = parseXml(xml)
  const msgs = root.name === 'KMIP' ? root.children : [root]
  const b: Bindings = new Map()
  const created = new Set<string>()
  const counters = { data: 0, key: 0 }
  // paddings (and a server-generated IV) the case's keys carry as Cryptographic Parameters
  const docPads = [
    ...values(root, 'PaddingMethod'),
    ...(values(root, 'RandomIV').includes('true') ? ['$RandomIV'] : []),
  ]
  let step = 0
  for (let i = 0; i < msgs.length; i++) {
    const reqEl = msgs[i]!
    if (reqEl.name !== 'RequestMessage') continue
    step++
    const expected = msgs[i + 1]
    let request: TtlvItem
    try {
      request = ttlvFromXmlElement(reqEl, {
        placeholder: (value) => {
          const v = nowOffset(value) ?? b.get(value)
          if (v === undefined)
            throw new Mismatch(`placeholder ${value} was never bound by a response`)
          return v
        },
      })
    } catch (e) {
      return {
        passed: false,
        steps: step,
        failedStep: step,
        reason: `request not encodable: ${(e as Error).message}`,
      }
    }
    let response: TtlvItem
    try {
      response = decodeTtlv(await send(encodeTtlv(request)), { strict: false })
    } catch (e) {
      return {
        passed: false,
        steps: step,
        failedStep: step,
        reason: `no valid response: ${(e as Error).message}`,
      }
    }
    if (expected === undefined || expected.name !== 'ResponseMessage') continue
    try {
      compare(
        relaxRandom(expected, reqEl, step, created, docPads, counters),
        response,
        b,
        '',
        undefined,
      )
      collectCreated(expected, reqEl, created)
    } catch (e) {
      if (!(e instanceof Mismatch)) throw e
      return { passed: false, steps: step, failedStep: step, reason: e.message }
    }
    i++
  }
  return { passed: true, steps: step }
}
