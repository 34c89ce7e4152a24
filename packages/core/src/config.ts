import { readFileSync } from 'node:fs'
import { ConfigError } from './errors.js'

/**
 * Minimal declarative config schema (one table per deployable). Each key names its type, default
 * and whether it is a secret *file path* (checked 0600 by `readSecretFile` when used).
 */
export type FieldSpec =
  | {
      readonly type: 'string'
      readonly default?: string
      readonly pattern?: RegExp
      readonly secretFile?: boolean
      readonly doc: string
    }
  | {
      readonly type: 'integer'
      readonly default?: number
      readonly min?: number
      readonly max?: number
      readonly doc: string
    }
  | { readonly type: 'boolean'; readonly default?: boolean; readonly doc: string }
  | {
      readonly type: 'enum'
      readonly values: readonly string[]
      readonly default?: string
      readonly doc: string
    }

export type ConfigSchema = Readonly<Record<string, FieldSpec>>

type ValueOf<F extends FieldSpec> = F extends { type: 'string' }
  ? string
  : F extends { type: 'integer' }
    ? number
    : F extends { type: 'boolean' }
      ? boolean
      : F extends { type: 'enum'; values: readonly (infer V)[] }
        ? V
        : never

export type ConfigOf<S extends ConfigSchema> = {
  readonly [K in keyof S]: S[K] extends { default: unknown }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined
}

export interface LoadConfigOptions {
  /** Component name: env keys are WARD_<COMPONENT>_<KEY>, the config file env is WARD_<COMPONENT>_CONFIG. */
  readonly component: string
  /** Path of a JSON config file (flag `--config`); overrides the env variable. */
  readonly file?: string | undefined
  /** Environment to read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Values from command-line flags (highest precedence); undefined entries are ignored. */
  readonly flags?: Readonly<Record<string, unknown>>
}

const envName = (component: string, key: string): string =>
  `WARD_${component.toUpperCase()}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`

/**
 * Load configuration with precedence defaults < file < environment < flags. Unknown keys are
 * rejected; every problem is reported at once. The result is frozen.
 */
export function loadConfig<S extends ConfigSchema>(
  schema: S,
  options: LoadConfigOptions,
): ConfigOf<S> {
  const env = options.env ?? process.env
  const problems: string[] = []
  const out: Record<string, unknown> = {}
  for (const [k, f] of Object.entries(schema)) if (f.default !== undefined) out[k] = f.default

  const file = options.file ?? env[`WARD_${options.component.toUpperCase()}_CONFIG`]
  if (file !== undefined) {
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch (e) {
      problems.push(`${file}: cannot read JSON config (${(e as Error).message})`)
    }
    if (parsed !== undefined) {
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        problems.push(`${file}: must hold a JSON object`)
      else
        for (const [k, v] of Object.entries(parsed)) {
          if (!(k in schema)) problems.push(`${file}: unknown key "${k}"`)
          else assign(k, v, `${file}: ${k}`)
        }
    }
  }
  const prefix = `WARD_${options.component.toUpperCase()}_`
  const known = new Map(Object.keys(schema).map((k) => [envName(options.component, k), k]))
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(prefix) || name === `${prefix}CONFIG` || raw === undefined) continue
    const k = known.get(name)
    if (k === undefined) problems.push(`environment: unknown variable ${name}`)
    else assign(k, fromString(schema[k] as FieldSpec, raw), `environment ${name}`)
  }
  for (const [k, v] of Object.entries(options.flags ?? {})) {
    if (v === undefined) continue
    if (!(k in schema)) problems.push(`flag: unknown option "${k}"`)
    else assign(k, v, `flag --${k}`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(out) as ConfigOf<S>

  function assign(k: string, v: unknown, where: string): void {
    const f = schema[k] as FieldSpec
    const err = check(f, v)
    if (err) problems.push(`${where}: ${err}`)
    else out[k] = v
  }
}

function fromString(f: FieldSpec, raw: string): unknown {
  if (f.type === 'integer') return /^-?\d+$/.test(raw) ? Number(raw) : raw
  if (f.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw
  return raw
}

function check(f: FieldSpec, v: unknown): string | undefined {
  switch (f.type) {
    case 'string':
      if (typeof v !== 'string') return 'must be a string'
      if (f.pattern && !f.pattern.test(v)) return `must match ${String(f.pattern)}`
      return undefined
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return 'must be an integer'
      if (f.min !== undefined && v < f.min) return `must be >= ${f.min}`
      if (f.max !== undefined && v > f.max) return `must be <= ${f.max}`
      return undefined
    case 'boolean':
      return typeof v === 'boolean' ? undefined : 'must be true or false'
    case 'enum':
      return typeof v === 'string' && f.values.includes(v)
        ? undefined
        : `must be one of ${f.values.join(', ')}`
  }
}

/** Render a config for `--print-config`: secret-file fields show the path only (never contents). */
export function printableConfig(
  schema: ConfigSchema,
  config: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  return Object.fromEntries(Object.keys(schema).map((k) => [k, config[k]]))
}
