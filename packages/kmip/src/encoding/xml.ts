import { KmipError } from '../errors.js'
import { Tag, tagNameOf } from '../tables/tags.js'
import type { TtlvItem, TtlvType } from '../ttlv/item.js'
import { typeCode } from '../ttlv/types.js'
import { parseXml, type XmlElement, type XmlLimits } from './xml-parser.js'
import {
  bigToHex,
  childContext,
  enumToText,
  intToText,
  isoFromMicros,
  isoFromSeconds,
  itemFromText,
  tagFromName,
  toHex,
  type ValueContext,
} from './values.js'

/** Options for reading KMIP XML. */
export interface XmlReadOptions extends XmlLimits {
  /**
   * Called for every value starting with `$` (the OASIS test-case placeholders such as
   * `$NOW`, `$UNIQUE_IDENTIFIER_0`); returns the replacement text, or undefined to keep it.
   */
  readonly placeholder?: (value: string, type: TtlvType, tag: number) => string | undefined
}

const isType = (t: string): t is TtlvType => Object.hasOwn(typeCode, t)

function elementToItem(
  el: XmlElement,
  opts: XmlReadOptions,
  ctx: ValueContext | undefined,
): TtlvItem {
  let tag: number | undefined
  if (el.name === 'TTLV') {
    const t = el.attrs['tag']
    tag = t === undefined ? undefined : tagFromName(t)
  } else {
    tag = tagFromName(el.name)
  }
  if (tag === undefined) throw new KmipError('ERR_KMIP_XML', `unknown tag element <${el.name}>`)
  const typeName = el.attrs['type'] ?? 'Structure'
  if (!isType(typeName))
    throw new KmipError('ERR_KMIP_XML', `unknown type "${typeName}" on <${el.name}>`, { tag })
  if (typeName === 'Structure') {
    const sem = childContext(
      el.children.map((c) => ({
        tag: tagFromName(c.name) ?? -1,
        type: c.attrs['type'] ?? 'Structure',
        value: c.attrs['value'],
      })),
    )
    const value = el.children.map((c) =>
      elementToItem(
        c,
        opts,
        sem !== undefined && tagFromName(c.name) === Tag.AttributeValue
          ? { semanticTag: sem }
          : undefined,
      ),
    )
    return { tag, type: 'Structure', value }
  }
  if (el.children.length > 0)
    throw new KmipError('ERR_KMIP_XML', `<${el.name}> of type ${typeName} has children`, { tag })
  let raw = el.attrs['value']
  if (raw === undefined) {
    if (typeName === 'TextString' || typeName === 'ByteString') raw = ''
    else throw new KmipError('ERR_KMIP_XML', `<${el.name}> lacks a value`, { tag })
  }
  if (raw.startsWith('$') && opts.placeholder) raw = opts.placeholder(raw, typeName, tag) ?? raw
  return itemFromText(tag, typeName, raw, ctx)
}

/** Converts an already-parsed element (see parseXml) into an item. */
export function ttlvFromXmlElement(el: XmlElement, options: XmlReadOptions = {}): TtlvItem {
  return elementToItem(el, options, undefined)
}

/** Parses one KMIP XML element (e.g. `<RequestMessage>…</RequestMessage>`) into an item. */
export function ttlvFromXml(xml: string, options: XmlReadOptions = {}): TtlvItem {
  return elementToItem(parseXml(xml, options), options, undefined)
}

/**
 * Parses an OASIS test-case document: a `<KMIP>` root holding RequestMessage/ResponseMessage
 * elements in order. Returns the items in document order.
 */
export function ttlvSequenceFromXml(xml: string, options: XmlReadOptions = {}): TtlvItem[] {
  const root = parseXml(xml, options)
  if (root.name !== 'KMIP') return [elementToItem(root, options, undefined)]
  return root.children.map((c) => elementToItem(c, options, undefined))
}

function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!,
  )
}

function valueText(item: TtlvItem, ctx: ValueContext | undefined): string {
  switch (item.type) {
    case 'Structure':
      return ''
    case 'Integer':
      return String(intToText(item.tag, item.value, ' ', ctx))
    case 'Enumeration':
      return enumToText(item.tag, item.value, ctx)
    case 'Interval':
    case 'LongInteger':
      return String(item.value)
    case 'BigInteger':
      return bigToHex(item.value)
    case 'Boolean':
      return item.value ? 'true' : 'false'
    case 'TextString':
      return item.value
    case 'ByteString':
      return toHex(item.value)
    case 'DateTime':
      return isoFromSeconds(item.value)
    case 'DateTimeExtended':
      return isoFromMicros(item.value)
  }
}

function write(
  item: TtlvItem,
  depth: number,
  indent: string,
  ctx: ValueContext | undefined,
  out: string[],
): void {
  const pad = indent.repeat(depth)
  const name = tagNameOf(item.tag)
  const open = name ?? `TTLV tag="0x${item.tag.toString(16).toUpperCase().padStart(6, '0')}"`
  const close = name ?? 'TTLV'
  if (item.type === 'Structure') {
    if (item.value.length === 0) {
      out.push(`${pad}<${open}/>`)
      return
    }
    out.push(`${pad}<${open}>`)
    const sem = childContext(item.value)
    for (const c of item.value) {
      write(
        c,
        depth + 1,
        indent,
        sem !== undefined && c.tag === Tag.AttributeValue ? { semanticTag: sem } : undefined,
        out,
      )
    }
    out.push(`${pad}</${close}>`)
    return
  }
  out.push(`${pad}<${open} type="${item.type}" value="${esc(valueText(item, ctx))}"/>`)
}

/** Serialises an item to KMIP XML (element per tag, `type` and `value` attributes). */
export function ttlvToXml(item: TtlvItem, options: { readonly indent?: string } = {}): string {
  const out: string[] = []
  write(item, 0, options.indent ?? '  ', undefined, out)
  return out.join('\n') + '\n'
}
