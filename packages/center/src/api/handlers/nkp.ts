/** Handlers of the native key provider routes (providers/native/native.ts does the work). */
import { Secret } from '@ward/core'
import { CenterError } from '../../errors.js'
import type { NativeKeyProviders } from '../../providers/native/native.js'
import type { Ctx, Handlers } from '../context.js'

type NkpHandlers = Pick<
  Handlers,
  | 'nkp.create'
  | 'nkp.list'
  | 'nkp.get'
  | 'nkp.delete'
  | 'nkp.export'
  | 'nkp.download'
  | 'nkp.import'
>

const nkp = (ctx: Ctx): NativeKeyProviders => {
  const n = ctx.services.nkp
  if (n === undefined)
    throw new CenterError(
      'ERR_CENTER_INTERNAL',
      'native key providers are not set up in this center',
    )
  return n
}

/** A password from the body as bytes (zeroed by the caller). */
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8')

export const nkpHandlers: NkpHandlers = {
  async 'nkp.create'(ctx, { body }) {
    const b64 = body.native_spec?.key_derivation_key
    return nkp(ctx).create({
      provider: body.provider,
      keyId: body.native_spec?.key_id,
      kdk: b64 !== undefined ? Secret.take(Buffer.from(b64, 'base64')) : undefined,
      tpmRequired: body.constraints?.tpm_required ?? false,
    })
  },
  async 'nkp.list'(ctx) {
    return nkp(ctx).list()
  },
  async 'nkp.get'(ctx, { params }) {
    await nkp(ctx).checkAlarms()
    return nkp(ctx).get(params.provider)
  },
  async 'nkp.delete'(ctx, { params }) {
    await nkp(ctx).delete(params.provider)
    return null
  },
  async 'nkp.export'(ctx, { params, body }) {
    const pw = bytes(body.password)
    try {
      const t = await nkp(ctx).export(params.provider, pw, ctx.user!)
      return {
        type: 'NATIVE' as const,
        location: {
          url: `/api/vcenter/crypto-manager/kms/providers/native/${params.provider}/export/download`,
          download_token: t,
        },
      }
    } finally {
      pw.fill(0)
    }
  },
  async 'nkp.download'(ctx, { params, body }) {
    const file = await nkp(ctx).download(params.provider, body.token)
    const config = file.toString('base64')
    file.fill(0)
    return {
      file_name: `${params.provider}.p12`,
      content_type: 'application/x-pkcs12',
      config,
    }
  },
  async 'nkp.import'(ctx, { body }) {
    const pw = bytes(body.password)
    try {
      return await nkp(ctx).import({
        config: Buffer.from(body.config, 'base64'),
        password: pw,
        tpmRequired: body.constraints?.tpm_required,
        dryRun: body.dry_run === true,
      })
    } finally {
      pw.fill(0)
    }
  },
}
