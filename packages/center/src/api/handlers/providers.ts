/** Handlers of the key provider routes (standard providers: a KMS cluster, its trust set-ups). */
import { CenterError } from '../../errors.js'
import {
  certInfo,
  clientCsr,
  csrMatchesCert,
  keyMatchesCert,
  parseCert,
  selfSignedClient,
} from '../../providers/certs.js'
import { providerStatus } from '../../providers/status.js'
import {
  listProviders,
  loadProvider,
  readKeys,
  saveProvider,
  type ProviderRow,
  type ProviderSpec,
} from '../../providers/store.js'
import type { Ctx, Handlers } from '../context.js'

type ProviderHandlers = Pick<
  Handlers,
  | 'provider.list'
  | 'provider.get'
  | 'provider.create'
  | 'provider.update'
  | 'provider.delete'
  | 'provider.serverAdd'
  | 'provider.serverRemove'
  | 'provider.trustKms'
  | 'provider.selfSignedClientCert'
  | 'provider.clientCsr'
  | 'provider.setClientCert'
  | 'provider.status'
  | 'provider.setDefault'
>

const db = (ctx: Ctx) => ctx.services.store.db

async function view(ctx: Ctx, row: ProviderRow) {
  const defaults = await db(ctx)
    .selectFrom('key_provider_defaults')
    .selectAll()
    .where('provider', '=', row.id)
    .execute()
  return {
    provider: row.id,
    type: row.type,
    servers: row.type === 'standard' ? row.spec.servers : [],
    trusted_kms_certificates:
      row.type === 'standard' ? row.spec.trusted.map((p) => certInfo(p)) : [],
    client_certificate:
      row.type === 'standard' && row.spec.clientCert !== undefined
        ? certInfo(row.spec.clientCert)
        : null,
    client_certificate_kind: row.spec.clientCertKind ?? null,
    csr_pending: row.spec.pendingCsr !== undefined,
    is_default: defaults.some((d) => d.scope === 'global'),
    default_for_clusters: defaults.filter((d) => d.scope !== 'global').map((d) => d.scope),
  }
}

/** Change a provider's spec (and keys), forget its KMIP client, answer its view. */
async function change(
  ctx: Ctx,
  id: string,
  fn: (
    spec: ProviderSpec,
    row: ProviderRow,
  ) => Promise<{ spec: ProviderSpec; keys?: Parameters<typeof saveProvider>[4] }>,
) {
  const row = await loadProvider(db(ctx), id)
  if (row.type !== 'standard')
    throw new CenterError(
      'ERR_CENTER_PROVIDER_TYPE',
      `key provider ${id} is ${row.type}: servers and trust belong to standard providers`,
    )
  const next = await fn(row.spec, row)
  await saveProvider(db(ctx), ctx.services.sealer, id, next.spec, next.keys)
  ctx.services.keyProviders.invalidate(id)
  return view(ctx, { ...row, spec: next.spec })
}

/** Routes about KMS servers and trust are the standard providers' (NKP has its own, under native/). */
const standardOnly = (row: ProviderRow): ProviderRow => {
  if (row.type !== 'standard')
    throw new CenterError(
      'ERR_CENTER_PROVIDER_TYPE',
      `key provider ${row.id} is ${row.type}: use its own commands (ward provider native ...)`,
    )
  return row
}

const uniqueServers = (servers: ProviderSpec['servers']) => {
  const names = new Set(servers.map((s) => s.name))
  if (names.size !== servers.length)
    throw new CenterError('ERR_CENTER_EXISTS', 'two servers have the same name; name each once')
  return servers
}

export const providerHandlers: ProviderHandlers = {
  async 'provider.list'(ctx) {
    const rows = await listProviders(db(ctx))
    return Promise.all(rows.map((r) => view(ctx, r)))
  },
  async 'provider.get'(ctx, { params }) {
    return view(ctx, await loadProvider(db(ctx), params.provider))
  },
  async 'provider.create'(ctx, { body }) {
    const had = await db(ctx)
      .selectFrom('key_providers')
      .select('id')
      .where('id', '=', body.provider)
      .executeTakeFirst()
    if (had !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `a key provider named ${body.provider} exists; choose another name (a KMS cluster shared by several centers keeps the same name on each)`,
      )
    const spec: ProviderSpec = { servers: uniqueServers([...(body.servers ?? [])]), trusted: [] }
    await db(ctx)
      .insertInto('key_providers')
      .values({
        id: body.provider,
        name: body.provider,
        type: 'standard',
        spec: JSON.stringify(spec),
        sealed: null,
        created_at: Date.now(),
      })
      .execute()
    return view(ctx, await loadProvider(db(ctx), body.provider))
  },
  async 'provider.update'(ctx, { params, body }) {
    return change(ctx, params.provider, async (spec) => ({
      spec: { ...spec, servers: uniqueServers([...body.servers]) },
    }))
  },
  async 'provider.delete'(ctx, { params }) {
    const id = params.provider
    standardOnly(await loadProvider(db(ctx), id))
    const d = db(ctx)
    for (const t of ['vms', 'disks'] as const) {
      const used = await d
        .selectFrom(t)
        .select('id')
        .where('key_provider', '=', id)
        .executeTakeFirst()
      if (used !== undefined)
        throw new CenterError(
          'ERR_CENTER_IN_USE',
          `key provider ${id} still protects ${used.id}; recrypt or decrypt what uses it first`,
        )
    }
    await d.transaction().execute(async (trx) => {
      await trx.deleteFrom('key_provider_defaults').where('provider', '=', id).execute()
      await trx.deleteFrom('key_providers').where('id', '=', id).execute()
    })
    ctx.services.keyProviders.invalidate(id)
    return null
  },
  async 'provider.serverAdd'(ctx, { params, body }) {
    return change(ctx, params.provider, async (spec) => ({
      spec: { ...spec, servers: uniqueServers([...spec.servers, body]) },
    }))
  },
  async 'provider.serverRemove'(ctx, { params }) {
    return change(ctx, params.provider, async (spec) => {
      if (!spec.servers.some((s) => s.name === params.server))
        throw new CenterError(
          'ERR_CENTER_NOT_FOUND',
          `key provider ${params.provider} has no server ${params.server}; ward provider get shows them`,
        )
      return { spec: { ...spec, servers: spec.servers.filter((s) => s.name !== params.server) } }
    })
  },
  async 'provider.trustKms'(ctx, { params, body }) {
    // each must be a certificate; a CA is an anchor, a server certificate (self-signed or issued
    // by a CA) is pinned by its fingerprint, one per provider (standard.ts tlsOf)
    const leaves = body.certificates.filter((p) => !parseCert(p).ca)
    if (leaves.length > 1)
      throw new CenterError(
        'ERR_CENTER_PROVIDER_CERT',
        `${leaves.length} KMS server certificates given: a provider pins one; for a cluster of several servers, upload their CA`,
      )
    return change(ctx, params.provider, async (spec) => ({
      spec: { ...spec, trusted: [...body.certificates] },
    }))
  },
  async 'provider.selfSignedClientCert'(ctx, { params, body }) {
    let certificate = ''
    await change(ctx, params.provider, async (spec, row) => {
      const keys = await readKeys(db(ctx), ctx.services.sealer, row.id)
      const made = await selfSignedClient(`ward-center-${row.id}`, body.validity_days ?? 365)
      certificate = made.certPem
      const { pendingCsr: _drop, ...rest } = spec
      void _drop
      return {
        spec: { ...rest, clientCert: made.certPem, clientCertKind: 'self-signed' },
        keys: { ...keys, client: made.keyPem },
      }
    })
    return { certificate }
  },
  async 'provider.clientCsr'(ctx, { params }) {
    let csr = ''
    await change(ctx, params.provider, async (spec, row) => {
      const keys = await readKeys(db(ctx), ctx.services.sealer, row.id)
      const made = await clientCsr(`ward-center-${row.id}`)
      csr = made.csrPem
      return { spec: { ...spec, pendingCsr: made.csrPem }, keys: { ...keys, pending: made.keyPem } }
    })
    return { csr }
  },
  async 'provider.setClientCert'(ctx, { params, body }) {
    parseCert(body.certificate)
    return change(ctx, params.provider, async (spec, row) => {
      const keys = await readKeys(db(ctx), ctx.services.sealer, row.id)
      if (body.private_key !== undefined) {
        if (!keyMatchesCert(body.certificate, body.private_key))
          throw new CenterError(
            'ERR_CENTER_PROVIDER_CERT',
            'the private key is not the key of this certificate; upload the pair the KMS issued',
          )
        return {
          spec: { ...spec, clientCert: body.certificate, clientCertKind: 'uploaded' },
          keys: { ...keys, client: body.private_key },
        }
      }
      if (spec.pendingCsr === undefined || keys.pending === undefined)
        throw new CenterError(
          'ERR_CENTER_PROVIDER_CERT',
          'no CSR is waiting for a signed certificate; make one (ward provider trust csr) or upload the certificate with its private key',
        )
      if (!csrMatchesCert(spec.pendingCsr, body.certificate))
        throw new CenterError(
          'ERR_CENTER_PROVIDER_CERT',
          "the certificate does not answer the provider's latest CSR; have the KMS sign that CSR",
        )
      const { pendingCsr: _drop, ...rest } = spec
      void _drop
      const { pending, ...others } = keys
      return {
        spec: { ...rest, clientCert: body.certificate, clientCertKind: 'csr' },
        keys: { ...others, client: pending },
      }
    })
  },
  async 'provider.status'(ctx, { params }) {
    const row = standardOnly(await loadProvider(db(ctx), params.provider))
    const keys = await readKeys(db(ctx), ctx.services.sealer, row.id)
    return providerStatus(row.id, row.spec, keys)
  },
  async 'provider.setDefault'(ctx, { params, body }) {
    const row = await loadProvider(db(ctx), params.provider)
    const scope = body.cluster ?? 'global'
    await db(ctx)
      .transaction()
      .execute(async (trx) => {
        await trx.deleteFrom('key_provider_defaults').where('scope', '=', scope).execute()
        await trx.insertInto('key_provider_defaults').values({ scope, provider: row.id }).execute()
      })
    return view(ctx, row)
  },
}
