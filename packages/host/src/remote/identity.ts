/**
 * The identities on the center ↔ host mutual-TLS link, declared once: the center's CA writes them
 * into the certificates it issues (packages/center/src/pki), the host's listener and the center's
 * host client check them. The CA sets every subject itself (nothing of a CSR's subject is copied),
 * so a host certificate can never carry the center's marker.
 */

/** Organizational unit of the center's client certificate: the only peer a host's listener serves. */
export const CENTER_CLIENT_OU = 'ward-center'
/** Common name of the center's client certificate. */
export const CENTER_CLIENT_CN = 'Ward center'
/** Organizational unit of every host certificate (CN = the host id the center gave it). */
export const HOST_OU = 'ward-host'
/** Default port of a joined host's mutual-TLS listener. */
export const DEFAULT_REMOTE_PORT = 8443

/** The URI SAN naming host `hostId` in its certificate. */
export const hostUri = (hostId: string): string => `urn:ward:host:${hostId}`

/** A host id: 1-64 letters, digits, '.', '_' or '-' (it is a certificate CN and a URI). */
export const HOST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
