import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '@ward/core'
import type { Logger } from '@ward/core'
import { addClient, initKms, startKmsServer } from '../src/index.js'
import type { KmsServer, KmsServerOptions } from '../src/index.js'
import { KmipTestClient } from '../src/testing.js'
import {
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
  Tag,
  bytes,
  enumeration,
  encodeTtlv,
  int,
  requiredValue,
  structure as struct,
  text,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { ClientTls } from '../src/testing.js'

/** A Request Payload of `c` (undefined children are dropped by the encoder). */
export const P = (...c: (TtlvItem | undefined)[]): TtlvItem => struct(Tag.RequestPayload, c)
export const uid = (id: string): TtlvItem => text(Tag.UniqueIdentifier, id)
/** The Unique Identifier of a response payload. */
export const idOf = (r: TtlvItem | undefined): string =>
  requiredValue(r, Tag.UniqueIdentifier, 'TextString')

/** A KMIP 1.x Attribute: its name, and a value whose tag becomes Attribute Value. */
export const attr1 = (name: string, value: TtlvItem): TtlvItem =>
  struct(Tag.Attribute, [
    text(Tag.AttributeName, name),
    { ...value, tag: Tag.AttributeValue } as TtlvItem,
  ])
/** KMIP 2.x Attributes of `c`. */
export const attrs2 = (...c: TtlvItem[]): TtlvItem => struct(Tag.Attributes, c)

/** The KMIP 1.x Create payload of an AES key (Template-Attribute): `bits` (256), then `extra`. */
export const createAes = (o: { bits?: number; extra?: readonly TtlvItem[] } = {}): TtlvItem =>
  P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    struct(Tag.TemplateAttribute, [
      attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
      attr1('Cryptographic Length', int(0, o.bits ?? 256)),
      ...(o.extra ?? []),
    ]),
  )

/**
 * The KMIP 2.x Register payload of a symmetric key: `key` with its Cryptographic Usage Mask (and
 * `extra` attributes), algorithm (AES) and length (the key's), as Raw or Transparent Symmetric
 * Key material.
 */
export function registerSymmetric(o: {
  key: Uint8Array
  usage: number
  algorithm?: number
  bits?: number
  format?: 'raw' | 'transparent'
  extra?: readonly TtlvItem[]
}): TtlvItem {
  const transparent = o.format === 'transparent'
  return P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    attrs2(int(Tag.CryptographicUsageMask, o.usage), ...(o.extra ?? [])),
    struct(Tag.SymmetricKey, [
      struct(Tag.KeyBlock, [
        enumeration(
          Tag.KeyFormatType,
          transparent ? KeyFormatType.TransparentSymmetricKey : KeyFormatType.Raw,
        ),
        struct(Tag.KeyValue, [
          transparent
            ? struct(Tag.KeyMaterial, [bytes(Tag.Key, o.key)])
            : bytes(Tag.KeyMaterial, o.key),
        ]),
        enumeration(Tag.CryptographicAlgorithm, o.algorithm ?? CryptographicAlgorithm.AES),
        int(Tag.CryptographicLength, o.bits ?? o.key.length * 8),
      ]),
    ]),
  )
}

/**
 * An encoded Request Message of `batchItems` (KMIP 1.4 unless `version`); `header` items go into
 * the Request Header before its Batch Count, which is the number of items unless `batchCount`.
 */
export function encodeRequest(
  batchItems: readonly TtlvItem[],
  o: {
    header?: readonly TtlvItem[]
    version?: readonly [number, number]
    batchCount?: number
  } = {},
): Buffer {
  const [major, minor] = o.version ?? [1, 4]
  return Buffer.from(
    encodeTtlv(
      struct(Tag.RequestMessage, [
        struct(Tag.RequestHeader, [
          struct(Tag.ProtocolVersion, [
            int(Tag.ProtocolVersionMajor, major),
            int(Tag.ProtocolVersionMinor, minor),
          ]),
          ...(o.header ?? []),
          int(Tag.BatchCount, o.batchCount ?? batchItems.length),
        ]),
        ...batchItems,
      ]),
    ),
  )
}

/** An encoded Request Message with one batch item of `op` (options as `encodeRequest`). */
export const requestMessage = (
  op: number,
  payload: TtlvItem,
  o: { header?: readonly TtlvItem[]; version?: readonly [number, number] } = {},
): Buffer => encodeRequest([struct(Tag.BatchItem, [enumeration(Tag.Operation, op), payload])], o)

/**
 * One TTLV item built by hand, so that hostile bytes never go through our own encoder: header
 * (`length` overrides the declared length), value, zero padding.
 */
export function frame(tag: number, type: number, value: Uint8Array, length?: number): Buffer {
  const h = Buffer.alloc(8)
  h.writeUIntBE(tag, 0, 3)
  h[3] = type
  h.writeUInt32BE(length ?? value.length, 4)
  return Buffer.concat([h, value, Buffer.alloc((8 - (value.length % 8)) % 8)])
}

export interface Fixture {
  readonly dir: string
  readonly server: KmsServer
  readonly logLines: string[]
  tls(name: string): Promise<ClientTls>
  client(name: string, major?: number, minor?: number): Promise<KmipTestClient>
  close(): Promise<void>
}

/** A capture logger: every JSON line the server logs lands in `lines`. */
export function captureLogger(lines: string[]): Logger {
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      cb()
    },
  })
  return createLogger('kms', { level: 'debug', destination: dest as never })
}

const dirsInit = new Map<string, Promise<void>>()

/** Fresh data dir + server on port 0 (SQLite unless `db`). */
export async function startFixture(opts: Partial<KmsServerOptions> = {}): Promise<Fixture> {
  const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'ward-kms-test-'))
  if (opts.dataDir === undefined) await initKms(dir)
  const logLines: string[] = []
  const server = await startKmsServer({
    listen: '127.0.0.1:0',
    logger: captureLogger(logLines),
    ...opts,
    dataDir: dir,
  })
  const certs = new Map<string, ClientTls>()
  const clients: KmipTestClient[] = []
  const tls = async (name: string): Promise<ClientTls> => {
    let t = certs.get(name)
    if (t === undefined) {
      const out = join(dir, 'clients', name)
      const files = existsSync(join(out, `${name}.key`))
        ? { ca: join(out, 'ca.pem'), cert: join(out, `${name}.crt`), key: join(out, `${name}.key`) }
        : await addClient(dir, name, out)
      t = {
        ca: readFileSync(files.ca),
        cert: readFileSync(files.cert),
        key: readFileSync(files.key),
      }
      certs.set(name, t)
    }
    return t
  }
  void dirsInit
  return {
    dir,
    server,
    logLines,
    tls,
    async client(name, major = 1, minor = 4) {
      const c = await KmipTestClient.connect(server.port, await tls(name))
      c.major = major
      c.minor = minor
      clients.push(c)
      return c
    },
    async close() {
      for (const c of clients) c.close()
      await server.close()
      if (opts.dataDir === undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}
