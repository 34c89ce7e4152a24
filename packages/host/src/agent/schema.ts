import { HostError } from '../errors.js'

/*
 * The builders of the admin protocol's table (protocol.ts): a parameter is a kind plus whether it
 * is required; an operation is its parameters plus its result type. The parameter types, the
 * result types, the request validation and the handler map's type are all derived from them.
 */

export const str = { kind: 'string' } as const
export const bool = { kind: 'boolean' } as const
/** A whole number (JSON number that is a safe integer). */
export const int = { kind: 'integer' } as const
/** An array of at most 64 strings. */
export const strs = { kind: 'strings' } as const
export const oneOf = <const V extends readonly string[]>(...values: V) =>
  ({ kind: 'enum', values }) as const
type Kind =
  | typeof str
  | typeof bool
  | typeof int
  | typeof strs
  | { readonly kind: 'enum'; readonly values: readonly string[] }
export const req = <const K extends Kind>(k: K) => ({ ...k, required: true }) as const
export const opt = <const K extends Kind>(k: K) => ({ ...k, required: false }) as const
export type Param = Kind & { readonly required: boolean }
export type Params = Readonly<Record<string, Param>>

declare const resultType: unique symbol
/** A result type, carried by the table for the compiler only (nothing of it exists at run time). */
export interface Result<R> {
  readonly [resultType]?: R
}
/** `result<{ inCache: boolean }>()`: what an operation answers. */
export const result = <R>(): Result<R> => ({})

/** How an operation is served, beside its parameters and result. */
export interface OpOptions {
  /**
   * It streams progress: a request that asks for it (`progress: true`) gets progress messages
   * `{id, progress: {done, total}}` on the same connection before its one result.
   */
  readonly progress?: boolean
  /** The management plane may call it over mutual TLS (issue 13). */
  readonly remote?: boolean
}

/** One operation of the table: its parameters, its result type and how it is served. */
export interface OpSpec<P extends Params = Params, R = unknown, O extends OpOptions = OpOptions> {
  readonly params: P
  readonly result: Result<R>
  readonly options: O
}
/**
 * One row of the table: `'keys.has': op({ providerId: req(str), kekId: req(str) }, result<…>())`,
 * with options as a third argument: `op({ name: req(str) }, result<…>(), { progress: true })`.
 * The options keep their literal type (the center's host client takes only `remote: true` rows).
 */
export const op = <const P extends Params, R, const O extends OpOptions = Record<never, never>>(
  params: P,
  r: Result<R>,
  options?: O,
): OpSpec<P, R, O> => ({
  params,
  result: r,
  options: options ?? ({} as O),
})

/** Work done so far by an operation that streams progress (bytes, for disk work). */
export interface OpProgress {
  readonly done: number
  readonly total: number
}
/** What a handler gets beside its parameters. */
export interface OpContext {
  /** Set when the operation streams progress and the caller asked for it. */
  readonly onProgress?: (p: OpProgress) => void
}

type ValueOf<P> = P extends { kind: 'string' }
  ? string
  : P extends { kind: 'boolean' }
    ? boolean
    : P extends { kind: 'integer' }
      ? number
      : P extends { kind: 'strings' }
        ? string[]
        : P extends { kind: 'enum'; values: readonly (infer V)[] }
          ? V
          : never
/** The typed parameters of an operation: required keys, then `?:` optional keys. */
export type ParamsOf<S extends OpSpec> = {
  -readonly [
    K in keyof S['params'] as S['params'][K] extends { required: true } ? K : never
  ]: ValueOf<S['params'][K]>
} & {
  -readonly [
    K in keyof S['params'] as S['params'][K] extends { required: false } ? K : never
  ]?: ValueOf<S['params'][K]>
}
export type ResultOf<S extends OpSpec> = S extends OpSpec<Params, infer R> ? R : never

const describe = (p: Param): string =>
  p.kind === 'enum'
    ? `one of ${p.values.join(', ')}`
    : p.kind === 'boolean'
      ? 'true or false'
      : p.kind === 'integer'
        ? 'a whole number'
        : p.kind === 'strings'
          ? 'an array of at most 64 strings'
          : 'a string'

const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v

const fits = (p: Param, v: unknown): boolean =>
  p.kind === 'enum'
    ? typeof v === 'string' && p.values.includes(v)
    : p.kind === 'boolean'
      ? typeof v === 'boolean'
      : p.kind === 'integer'
        ? Number.isSafeInteger(v)
        : p.kind === 'strings'
          ? Array.isArray(v) && v.length <= 64 && v.every((x) => typeof x === 'string')
          : typeof v === 'string'

/**
 * Check the parameters of operation `op` against its schema: a missing, unknown or mistyped
 * parameter is ERR_HOST_BAD_ARGUMENT naming the operation and the parameter.
 */
export function checkParams(op: string, spec: Params, params: unknown): Record<string, unknown> {
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
    if (!fits(s, v))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `${op}: parameter '${name}' must be ${describe(s)}, not ${s.kind === 'enum' && typeof v === 'string' ? `'${v.slice(0, 32)}'` : typeName(v)}`,
        { op, param: name },
      )
  }
  return p
}
