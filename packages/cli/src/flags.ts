import type { ParseArgsConfig } from 'node:util'
import { CliError } from './errors.js'

/*
 * CLI flags, declared once: each flag is one spec (its parseArgs type, help line, whether it is
 * required, its default, its parser). The parseArgs options, the `--help` lines and the typed
 * values a command receives all come from the specs.
 */

export type Options = NonNullable<ParseArgsConfig['options']>
/** What parseArgs gives for one flag. */
export type Raw = string | boolean | (string | boolean)[] | undefined

export interface Flag<T = unknown> {
  readonly type: 'string' | 'boolean'
  readonly multiple?: boolean
  /** One help line, shown by `--help`. */
  readonly help: string
  /** The value's name in `--help` (`--data-dir DIR`). */
  readonly value?: string
  /** Absent: a usage error. */
  readonly required?: boolean
  /** Shown by `--help` as "(default: …)" when the value is absent. */
  readonly shownDefault?: string
  /** The typed value from what parseArgs gave (`undefined` when absent). */
  readonly parse: (raw: Raw, name: string) => T
}
export type Flags = Readonly<Record<string, Flag>>

/** The typed values of a command's flags. */
export type FlagValues<F extends Flags> = { readonly [K in keyof F]: ReturnType<F[K]['parse']> }

const usage = (name: string, message: string): CliError =>
  new CliError('ERR_CLI_USAGE', message, { option: name })

/** `a, b or c` */
const alternatives = (vs: readonly string[]): string =>
  vs.length < 2 ? (vs[0] ?? '') : `${vs.slice(0, -1).join(', ')} or ${vs[vs.length - 1]}`

interface StringOptions<D> {
  /** The value's name in `--help` (default VALUE). */
  readonly value?: string
  readonly required?: boolean
  readonly default?: D
  /** How `--help` shows the default (default: the default as a string). */
  readonly shown?: string
}
type Valued<T, O> = O extends { required: true }
  ? T
  : O extends { default: infer D }
    ? T | D
    : T | undefined

/**
 * A flag that takes a value, turned into `T` by `parse` (which throws the usage error of a bad
 * value); the empty string is refused (`--flag needs a value`).
 */
export function custom<T, const O extends StringOptions<unknown> = Record<never, never>>(
  help: string,
  parse: (s: string, name: string) => T,
  o?: O,
  value?: string,
): Flag<Valued<T, O>> {
  const shownValue = o?.value ?? value
  return {
    type: 'string',
    help,
    ...(shownValue !== undefined ? { value: shownValue } : {}),
    ...(o?.required === true ? { required: true } : {}),
    ...(o?.default !== undefined ? { shownDefault: o.shown ?? String(o.default) } : {}),
    parse: (raw, name) => {
      if (raw === undefined) {
        if (o?.required === true) throw usage(name, `--${name} is required`)
        return o?.default as Valued<T, O>
      }
      if (typeof raw !== 'string' || raw === '') throw usage(name, `--${name} needs a value`)
      return parse(raw, name) as Valued<T, O>
    },
  }
}

/** `--name VALUE`: a string. */
export const text = <const O extends StringOptions<string> = Record<never, never>>(
  help: string,
  o?: O,
): Flag<Valued<string, O>> => custom(help, (s) => s, o)

/** `--name N`: a whole number, optionally bounded. */
export const int = <
  const O extends StringOptions<number> & { min?: number; max?: number } = Record<never, never>,
>(
  help: string,
  o?: O,
): Flag<Valued<number, O>> =>
  custom(
    help,
    (s, name) => {
      const n = /^-?\d{1,15}$/.test(s) ? Number(s) : NaN
      const { min, max } = o ?? {}
      if (
        !Number.isSafeInteger(n) ||
        (min !== undefined && n < min) ||
        (max !== undefined && n > max)
      )
        throw usage(
          name,
          `--${name} must be a whole number${min !== undefined ? ` from ${min}` : ''}${max !== undefined ? ` to ${max}` : ''} (got ${s})`,
        )
      return n
    },
    o,
    'N',
  )

/** `--name V`: one of `values` (`ignoreCase`: given in any case, returned as listed). */
export const choice = <
  const V extends readonly string[],
  const O extends StringOptions<V[number]> & { ignoreCase?: boolean } = Record<never, never>,
>(
  values: V,
  help: string,
  o?: O,
): Flag<Valued<V[number], O>> =>
  custom(
    help,
    (s, name) => {
      const found = values.find((v) =>
        o?.ignoreCase === true ? v.toLowerCase() === s.toLowerCase() : v === s,
      )
      if (found === undefined)
        throw usage(name, `--${name} must be ${alternatives(values)} (got ${s})`)
      return found as V[number]
    },
    o,
    values.join('|'),
  )

/** `--name a,b,c`: a comma-separated list (blank items dropped). */
export const list = <const O extends StringOptions<never> = Record<never, never>>(
  help: string,
  o?: O,
): Flag<Valued<string[], O>> =>
  custom(
    help,
    (s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    o,
    'A,B,…',
  )

/** esxcli-style booleans (`--require-secure-boot T`): T, true, F, false in any case; absent: undefined. */
export const tf = (help: string): Flag<boolean | undefined> =>
  custom(
    help,
    (s, name) => {
      const v = s.toLowerCase()
      if (v === 't' || v === 'true') return true
      if (v === 'f' || v === 'false') return false
      throw usage(name, `--${name} takes T, true, F or false (got ${s})`)
    },
    undefined,
    'T|F',
  )

/** `--name on|off` (also true/false, t/f); absent: `default`, or undefined without one. */
export const onOff = <const O extends { default?: boolean } = Record<never, never>>(
  help: string,
  o?: O,
): Flag<Valued<boolean, O>> =>
  custom(
    help,
    (s, name) => {
      const v = s.toLowerCase()
      if (v === 'on' || v === 'true' || v === 't') return true
      if (v === 'off' || v === 'false' || v === 'f') return false
      throw usage(name, `--${name} takes on or off (got ${s})`)
    },
    o?.default === undefined ? undefined : { default: o.default, shown: o.default ? 'on' : 'off' },
    'on|off',
  ) as Flag<Valued<boolean, O>> // the same options as O, with the default shown as on/off

/** `--name` with no value: true when given. */
export const bool = (help: string): Flag<boolean> => ({
  type: 'boolean',
  help,
  parse: (raw) => raw === true,
})

/** `--name V` that may be given several times: every value, in order. */
export const texts = (help: string, o: { value?: string } = {}): Flag<string[]> => ({
  type: 'string',
  multiple: true,
  help: `${help} (repeatable)`,
  ...(o.value !== undefined ? { value: o.value } : {}),
  parse: (raw, name) => {
    const vs = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
    return vs.map((v) => {
      if (typeof v !== 'string' || v === '') throw usage(name, `--${name} needs a value`)
      return v
    })
  },
})

/** The node:util parseArgs options of a flag table. */
export function parseOptions(flags: Flags): Options {
  return Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      { type: f.type, ...(f.multiple === true ? { multiple: true } : {}) },
    ]),
  )
}

/** The typed values of `flags` from what parseArgs gave; a bad or missing value is ERR_CLI_USAGE. */
export function resolveFlags<F extends Flags>(
  flags: F,
  raw: Readonly<Record<string, Raw>>,
): FlagValues<F> {
  const out: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(flags)) out[name] = f.parse(raw[name], name)
  return out as FlagValues<F>
}

/** The `--help` line of one flag. */
export function flagHelp(name: string, f: Flag): string {
  const left = `--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`
  const notes = [
    ...(f.required === true ? ['required'] : []),
    ...(f.shownDefault !== undefined ? [`default: ${f.shownDefault}`] : []),
  ]
  return `  ${left.padEnd(34)}${left.length < 34 ? ' ' : '  '}${f.help}${notes.length ? ` (${notes.join('; ')})` : ''}`
}
