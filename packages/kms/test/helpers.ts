import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '@ward/core'
import type { Logger } from '@ward/core'
import { addClient, initKms, startKmsServer } from '../src/index.js'
import type { KmsServer, KmsServerOptions } from '../src/index.js'
import { KmipTestClient } from '../src/testing.js'
import { Tag, req, s as struct, text } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { ClientTls } from '../src/testing.js'

/** A Request Payload of `c` (undefined children are dropped by the encoder). */
export const P = (...c: (TtlvItem | undefined)[]): TtlvItem => struct(Tag.RequestPayload, c)
export const uid = (id: string): TtlvItem => text(Tag.UniqueIdentifier, id)
/** The Unique Identifier of a response payload. */
export const idOf = (r: TtlvItem | undefined): string => req(r, Tag.UniqueIdentifier, 'TextString')

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
