import { KmipError } from '../errors.js'

/** A parsed XML element (no text content: KMIP XML carries values in attributes). */
export interface XmlElement {
  readonly name: string
  readonly attrs: Readonly<Record<string, string>>
  readonly children: readonly XmlElement[]
}

/** Bounds for {@link parseXml}. */
export interface XmlLimits {
  readonly maxBytes?: number
  readonly maxDepth?: number
  readonly maxElements?: number
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function bad(msg: string, offset: number): never {
  throw new KmipError('ERR_KMIP_XML', `${msg} at offset ${offset}`, { offset })
}

function decodeEntities(s: string, at: number): string {
  if (!s.includes('&')) return s
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);?/g, (m: string, e: string) => {
    if (e.startsWith('#')) {
      const cp = e.startsWith('#x')
        ? Number.parseInt(e.slice(2), 16)
        : Number.parseInt(e.slice(1), 10)
      if (!(cp >= 0 && cp <= 0x10ffff)) bad(`bad character reference ${m}`, at)
      return String.fromCodePoint(cp)
    }
    const r = entities[e]
    if (r === undefined) bad(`unknown entity ${m}`, at)
    return r
  })
}

/**
 * A small, bounded XML parser for the KMIP XML encoding: elements and attributes only.
 * Comments, the XML declaration and text between elements (e.g. the `# TIME n` markers in the
 * ovh test data) are skipped; DOCTYPE, CDATA and processing instructions other than the
 * declaration are refused (no entity expansion, so no billion-laughs).
 */
export function parseXml(src: string, limits: XmlLimits = {}): XmlElement {
  const maxBytes = limits.maxBytes ?? 16 << 20
  const maxDepth = limits.maxDepth ?? 64
  const maxElements = limits.maxElements ?? 200_000
  if (src.length > maxBytes) bad(`document larger than ${maxBytes}`, 0)
  let i = 0
  let count = 0
  const n = src.length

  function skipMisc(): void {
    for (;;) {
      const lt = src.indexOf('<', i)
      if (lt < 0) {
        i = n
        return
      }
      i = lt
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i + 4)
        if (end < 0) bad('unterminated comment', i)
        i = end + 3
        continue
      }
      if (src.startsWith('<?', i)) {
        const end = src.indexOf('?>', i + 2)
        if (end < 0 || !/^<\?xml[\s?]/.test(src.slice(i, i + 6)))
          bad('unsupported processing instruction', i)
        i = end + 2
        continue
      }
      if (src.startsWith('<!', i)) bad('DOCTYPE and CDATA are not supported', i)
      return
    }
  }

  function parseElement(depth: number): XmlElement {
    if (depth > maxDepth) bad(`nesting deeper than ${maxDepth}`, i)
    if (++count > maxElements) bad(`more than ${maxElements} elements`, i)
    const start = i
    i++ // '<'
    const nm = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(src.slice(i, i + 256))
    if (!nm) bad('bad element name', i)
    const name = nm[0]
    i += name.length
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>
    for (;;) {
      while (i < n && /\s/.test(src[i]!)) i++
      if (i >= n) bad('unterminated start tag', start)
      if (src.startsWith('/>', i)) {
        i += 2
        return { name, attrs, children: [] }
      }
      if (src[i] === '>') {
        i++
        break
      }
      const an = /^[A-Za-z_][A-Za-z0-9_.:-]*/.exec(src.slice(i, i + 256))
      if (!an) bad('bad attribute name', i)
      i += an[0].length
      while (i < n && /\s/.test(src[i]!)) i++
      if (src[i] !== '=') bad('expected =', i)
      i++
      while (i < n && /\s/.test(src[i]!)) i++
      const q = src[i]
      if (q !== '"' && q !== "'") bad('expected quoted attribute value', i)
      const end = src.indexOf(q, i + 1)
      if (end < 0) bad('unterminated attribute value', i)
      if (Object.hasOwn(attrs, an[0])) bad(`duplicate attribute ${an[0]}`, i)
      attrs[an[0]] = decodeEntities(src.slice(i + 1, end), i)
      i = end + 1
    }
    const kids: XmlElement[] = []
    for (;;) {
      skipMisc()
      if (i >= n) bad(`unterminated element ${name}`, start)
      if (src.startsWith('</', i)) {
        const end = src.indexOf('>', i)
        if (end < 0) bad('unterminated end tag', i)
        const closing = src.slice(i + 2, end).trim()
        if (closing !== name) bad(`end tag ${closing} does not match ${name}`, i)
        i = end + 1
        return { name, attrs, children: kids }
      }
      kids.push(parseElement(depth + 1))
    }
  }

  skipMisc()
  if (i >= n) bad('no root element', 0)
  const root = parseElement(1)
  skipMisc()
  if (i < n) bad('content after the root element', i)
  return root
}
