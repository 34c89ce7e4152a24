/** TypeBox schemas of the key provider and key routes (vSphere crypto_manager.kms shapes). */
import { Type } from 'typebox'
import { closed } from '../api/schemas.js'

export const ProviderId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
})
export const ServerName = ProviderId
export const KmipServer = Type.Object(
  {
    name: ServerName,
    address: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:-]+$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
  },
  closed,
)
const PemText = (max: number) =>
  Type.String({ minLength: 64, maxLength: max, pattern: '^-----BEGIN ' })
export const CertPem = PemText(16384)
export const KeyPem = PemText(16384)
export const KeyId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })

export const CertInfo = Type.Object(
  {
    subject: Type.String(),
    issuer: Type.String(),
    serial_number: Type.String(),
    not_before: Type.String(),
    not_after: Type.String(),
    fingerprint: Type.String(),
    seconds_before_expire: Type.Integer(),
  },
  closed,
)
export const Provider = Type.Object(
  {
    provider: Type.String(),
    type: Type.String(),
    servers: Type.Array(KmipServer),
    trusted_kms_certificates: Type.Array(CertInfo),
    client_certificate: Type.Union([CertInfo, Type.Null()]),
    client_certificate_kind: Type.Union([Type.String(), Type.Null()]),
    csr_pending: Type.Boolean(),
    is_default: Type.Boolean(),
    default_for_clusters: Type.Array(Type.String()),
  },
  closed,
)
export const Colour = Type.Union([
  Type.Literal('gray'),
  Type.Literal('green'),
  Type.Literal('yellow'),
  Type.Literal('red'),
])
export const ProviderStatus = Type.Object(
  {
    provider: Type.String(),
    overall_status: Colour,
    servers: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          address: Type.String(),
          port: Type.Integer(),
          status: Colour,
          connection_status: Type.String(),
          client_trust_server: Type.Boolean(),
          server_trust_client: Type.Boolean(),
          cert_info: Type.Union([CertInfo, Type.Null()]),
        },
        closed,
      ),
    ),
    client_cert_info: Type.Union([CertInfo, Type.Null()]),
  },
  closed,
)
export const KeyStatus = Type.Object(
  {
    key_id: Type.String(),
    provider: Type.String(),
    key_available: Type.Boolean(),
    reason: Type.String(),
    vms: Type.Array(Type.String()),
    disks: Type.Array(Type.String()),
    hosts: Type.Array(Type.String()),
    created_by_center: Type.Boolean(),
  },
  closed,
)
export const UnusedKey = Type.Object(
  {
    key_id: Type.String(),
    provider: Type.String(),
    label: Type.String(),
    created: Type.String(),
    unused_since: Type.String(),
    destroy_after: Type.String(),
  },
  closed,
)
