/**
 * Status of a standard provider's servers, as vSphere's RetrieveKmipServersStatus reports it
 * (CryptoManagerKmipServerStatus): connection, both trust directions, certificate expiry and a
 * colour. One TLS connection per server with the provider's client certificate:
 * - client_trust_server (does the center trust the KMS?): the server's certificate checked here
 *   against the provider's trusted certificates (a pinned leaf, or a CA with the hostname);
 * - server_trust_client (does the KMS accept the client?): a KMIP DiscoverVersions answered over
 *   that connection (a KMS that refuses the client certificate aborts the handshake, or, in TLS
 *   1.3, the first read, with an alert).
 * Colours (vSphere's meaning): gray = unknown (the trust set-up is incomplete), green = normal,
 * yellow = a warning (a certificate expires within `expiryWarnSeconds`), red = an error (no
 * connection, a trust direction fails, a certificate expired).
 */
import { X509Certificate } from 'node:crypto'
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { isIP } from 'node:net'
import { Operation, Tag, encodeTtlv, enumeration, int, structure, kmipCiphers } from '@ward/kmip'
import { certInfo, type CertInfo } from './certs.js'
import type { ProviderKeys, ProviderSpec, ServerSpec } from './store.js'

export type Colour = 'gray' | 'green' | 'yellow' | 'red'

export const StatusLimits = {
  /** A certificate that expires sooner than this turns its server yellow (30 days). */
  expiryWarnSeconds: 30 * 86400,
  probeMs: 5000,
} as const

export interface ServerStatus {
  readonly name: string
  readonly address: string
  readonly port: number
  readonly status: Colour
  /** vSphere connectionStatus text: connected | not connected: <why>. */
  readonly connection_status: string
  readonly client_trust_server: boolean
  readonly server_trust_client: boolean
  readonly cert_info: CertInfo | null
}

export interface ProviderStatus {
  readonly provider: string
  readonly overall_status: Colour
  readonly servers: ServerStatus[]
  readonly client_cert_info: CertInfo | null
}

const worst = (cs: readonly Colour[]): Colour =>
  cs.includes('red')
    ? 'red'
    : cs.includes('yellow')
      ? 'yellow'
      : cs.includes('gray') || cs.length === 0
        ? 'gray'
        : 'green'

/** A DiscoverVersions request (KMIP 1.1 header), the cheapest question a KMS answers. */
const discover = (): Buffer =>
  Buffer.from(
    encodeTtlv(
      structure(Tag.RequestMessage, [
        structure(Tag.RequestHeader, [
          structure(Tag.ProtocolVersion, [
            int(Tag.ProtocolVersionMajor, 1),
            int(Tag.ProtocolVersionMinor, 1),
          ]),
          int(Tag.BatchCount, 1),
        ]),
        structure(Tag.BatchItem, [
          enumeration(Tag.Operation, Operation.DiscoverVersions),
          structure(Tag.RequestPayload, []),
        ]),
      ]),
    ),
  )

/** Whether the center trusts `peer` by the provider's trusted certificates. */
export function trusts(trusted: readonly string[], peer: X509Certificate, host: string): boolean {
  const now = Date.now()
  if (Date.parse(peer.validTo) < now || Date.parse(peer.validFrom) > now) return false
  for (const pem of trusted) {
    let t: X509Certificate
    try {
      t = new X509Certificate(pem)
    } catch {
      continue
    }
    if (!t.ca) {
      if (t.fingerprint256 === peer.fingerprint256) return true
      continue
    }
    if (!peer.checkIssued(t) || !peer.verify(t.publicKey)) continue
    const name = host.replace(/^\[|\]$/g, '')
    const ok = isIP(name) !== 0 ? peer.checkIP(name) : peer.checkHost(name)
    if (ok !== undefined) return true
  }
  return false
}

/** Probe one server. */
export async function probeServer(
  s: ServerSpec,
  spec: ProviderSpec,
  keys: ProviderKeys,
  now = Date.now(),
): Promise<ServerStatus> {
  const setUp =
    spec.trusted.length > 0 && spec.clientCert !== undefined && keys.client !== undefined
  const opts: ConnectionOptions = {
    host: s.address,
    port: s.port,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    ciphers: kmipCiphers,
    ...(spec.clientCert !== undefined && keys.client !== undefined
      ? { cert: spec.clientCert, key: keys.client }
      : {}),
    ...(isIP(s.address) === 0 ? { servername: s.address } : {}),
  }
  const r = await new Promise<{
    connected: boolean
    why: string
    peer: X509Certificate | undefined
    answered: boolean
  }>((resolve) => {
    let peer: X509Certificate | undefined
    let handshake = false
    let done = false
    const finish = (answered: boolean, why: string): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      resolve({ connected: handshake || why.includes('ALERT'), why, peer, answered })
    }
    const sock: TLSSocket = connect(opts)
    const timer = setTimeout(() => finish(false, 'timed out'), StatusLimits.probeMs)
    sock.on('secureConnect', () => {
      handshake = true
      peer = sock.getPeerX509Certificate()
      sock.write(discover())
    })
    sock.on('data', () => finish(true, ''))
    sock.on('error', (e: NodeJS.ErrnoException) => {
      peer ??= sock.getPeerX509Certificate?.() ?? undefined
      finish(false, e.code ?? e.message)
    })
    sock.on('close', () => finish(false, 'closed by the KMS'))
  })
  const serverInfo = r.peer !== undefined ? certInfo(r.peer.toString(), now) : null
  const clientInfo = spec.clientCert !== undefined ? certInfo(spec.clientCert, now) : null
  const cts = r.peer !== undefined && trusts(spec.trusted, r.peer, s.address)
  const stc = r.answered
  let status: Colour
  if (!r.connected) status = 'red'
  else if (!setUp) status = 'gray'
  else if (!cts || !stc) status = 'red'
  else if (
    (serverInfo?.seconds_before_expire ?? 0) <= 0 ||
    (clientInfo?.seconds_before_expire ?? 0) <= 0
  )
    status = 'red'
  else if (
    Math.min(
      serverInfo?.seconds_before_expire ?? Infinity,
      clientInfo?.seconds_before_expire ?? Infinity,
    ) < StatusLimits.expiryWarnSeconds
  )
    status = 'yellow'
  else status = 'green'
  return {
    name: s.name,
    address: s.address,
    port: s.port,
    status,
    connection_status: r.connected ? 'connected' : `not connected: ${r.why}`,
    client_trust_server: cts,
    server_trust_client: stc,
    cert_info: serverInfo,
  }
}

export async function providerStatus(
  id: string,
  spec: ProviderSpec,
  keys: ProviderKeys,
): Promise<ProviderStatus> {
  const servers = await Promise.all(spec.servers.map((s) => probeServer(s, spec, keys)))
  return {
    provider: id,
    overall_status: worst(servers.map((s) => s.status)),
    servers,
    client_cert_info: spec.clientCert !== undefined ? certInfo(spec.clientCert) : null,
  }
}
