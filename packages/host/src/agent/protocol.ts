import { HostError } from '../errors.js'

/**
 * The admin protocol's operations and their parameters, declared once: the agent validates every
 * request against this table (types, required and unknown parameters) before running it, and the
 * handler's parameter types are inferred from it.
 */
const str = { kind: 'string' } as const
const bool = { kind: 'boolean' } as const
/** A safe integer. */
const int = { kind: 'integer' } as const
/** An array of at most 64 strings. */
const strs = { kind: 'strings' } as const
const oneOf = <const V extends readonly string[]>(...values: V) =>
  ({ kind: 'enum', values }) as const
type Kind =
  | typeof str
  | typeof bool
  | typeof int
  | typeof strs
  | { readonly kind: 'enum'; readonly values: readonly string[] }
const req = <const K extends Kind>(k: K) => ({ ...k, required: true }) as const
const opt = <const K extends Kind>(k: K) => ({ ...k, required: false }) as const
type Param = Kind & { readonly required: boolean }

export const AdminOps = {
  status: {},
  'settings.encryption.get': {},
  'settings.encryption.set': {
    mode: opt(oneOf('TPM', 'NONE')),
    requireSecureBoot: opt(bool),
    requireExecInstalledOnly: opt(bool),
  },
  'settings.encryption.recovery.list': {},
  'settings.encryption.recovery.rotate': {},
  'security.keypersistence.get': {},
  'security.keypersistence.enable': {},
  'security.keypersistence.disable': { removeAllStoredKeys: opt(bool) },
  'keys.add': { providerId: req(str), kekId: req(str), key: req(str) },
  'keys.has': { providerId: req(str), kekId: req(str) },
  'keys.list': {},
  'keys.remove': { providerId: req(str), kekId: req(str) },
  'datastore.add': { name: req(str), path: req(str) },
  'datastore.list': {},
  'vm.create': {
    name: req(str),
    cpus: opt(int),
    memory: opt(str),
    disks: opt(strs),
    firmware: opt(oneOf('bios', 'efi')),
    vtpm: opt(bool),
    autostart: opt(bool),
    datastore: opt(str),
    encrypt: opt(bool),
    providerId: opt(str),
    kekId: opt(str),
  },
  'vm.list': {},
  'vm.describe': { name: req(str) },
  'vm.register': { path: req(str) },
  'vm.unregister': { name: req(str) },
  'vm.destroy': { name: req(str) },
  'vm.disk.add': { name: req(str), size: req(str), encrypt: opt(bool) },
  'vm.autostart': { name: req(str), enabled: req(bool) },
  'vm.power.on': { name: req(str), kernel: opt(str), initrd: opt(str), append: opt(str) },
  'vm.power.off': { name: req(str), hard: opt(bool), timeoutSeconds: opt(int) },
} as const satisfies Record<string, Record<string, Param>>

export type AdminOp = keyof typeof AdminOps

type ValueOf<P> = P extends { kind: 'string' }
  ? string
  : P extends { kind: 'integer' }
    ? number
    : P extends { kind: 'strings' }
      ? string[]
      : P extends { kind: 'boolean' }
        ? boolean
        : P extends { kind: 'enum'; values: readonly (infer V)[] }
          ? V
          : never
type ParamsOf<M> = {
  -readonly [K in keyof M as M[K] extends { required: true } ? K : never]: ValueOf<M[K]>
} & {
  -readonly [K in keyof M as M[K] extends { required: false } ? K : never]?: ValueOf<M[K]>
}
export type AdminParams<O extends AdminOp> = ParamsOf<(typeof AdminOps)[O]>
/** A validated request: the operation and its typed parameters. */
export type AdminRequest = { [O in AdminOp]: { op: O; params: AdminParams<O> } }[AdminOp]

const describe = (p: Param): string =>
  p.kind === 'enum'
    ? `one of ${p.values.join(', ')}`
    : p.kind === 'boolean'
      ? 'true or false'
      : p.kind === 'integer'
        ? 'an integer'
        : p.kind === 'strings'
          ? 'an array of at most 64 strings'
          : 'a string'

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v

/**
 * Check an admin request against `AdminOps`. Unknown operation: ERR_HOST_BAD_REQUEST; a missing,
 * unknown or mistyped parameter: ERR_HOST_BAD_ARGUMENT naming the operation and the parameter.
 */
export function checkRequest(op: string, params: unknown): AdminRequest {
  if (!Object.hasOwn(AdminOps, op))
    throw new HostError('ERR_HOST_BAD_REQUEST', `unknown operation '${op.slice(0, 64)}'`)
  const spec = AdminOps[op as AdminOp] as Readonly<Record<string, Param>>
  if (typeof params !== 'object' || params === null || Array.isArray(params))
    throw new HostError('ERR_HOST_BAD_ARGUMENT', `${op}: params must be a JSON object`, { op })
  const p = params as Record<string, unknown>
  for (const name of Object.keys(p))
    if (!Object.hasOwn(spec, name))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `${op}: unknown parameter '${name.slice(0, 64)}' (${op} takes ${Object.keys(spec).join(', ') || 'no parameters'})`,
        { op, param: name.slice(0, 64) },
      )
  for (const [name, s] of Object.entries(spec)) {
    const v = p[name]
    if (v === undefined) {
      if (s.required)
        throw new HostError('ERR_HOST_BAD_ARGUMENT', `${op}: parameter '${name}' is required`, {
          op,
          param: name,
        })
      continue
    }
    const ok =
      s.kind === 'enum'
        ? typeof v === 'string' && s.values.includes(v)
        : s.kind === 'boolean'
          ? typeof v === 'boolean'
          : s.kind === 'integer'
            ? Number.isSafeInteger(v)
            : s.kind === 'strings'
              ? Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'string')
              : typeof v === 'string'
    if (!ok)
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `${op}: parameter '${name}' must be ${describe(s)}, not ${s.kind === 'enum' && typeof v === 'string' ? `'${v.slice(0, 32)}'` : typeName(v)}`,
        { op, param: name },
      )
  }
  return { op, params: p } as AdminRequest
}
