import { parseArgs } from 'node:util'
import {
  parseOptions,
  resolveFlags,
  type FlagValues,
  type Flags,
  type Options,
  type Raw,
} from './flags.js'
import type { Output } from './output.js'

export type { Options }
/** The values parseArgs gives (before the flags' parsers). */
export type Values = Readonly<Record<string, Raw>>

/** One CLI command, with its flags erased: what `bin.ts`, help and the tests see. */
export interface Command {
  /** Words after `ward`, e.g. ['crypto-util', 'disk', 'encrypt']. */
  readonly path: readonly string[]
  readonly summary: string
  /** Positional arguments, for help, e.g. 'FILE'. */
  readonly args?: string
  /** One command line that `--help` shows (it parses with the command's flags: a test checks). */
  readonly example: string
  readonly flags: Flags
  /** The node:util parseArgs options, from `flags`. */
  readonly options: Options
  /** Run with what parseArgs gave: the flags' parsers run first (a bad value is ERR_CLI_USAGE). */
  run(ctx: CommandContext<Values>): Promise<number | undefined>
}

export interface CommandContext<V = Values> {
  readonly values: V
  readonly positionals: readonly string[]
  readonly out: Output
}

/** A command as written: its flag table, and a run function that gets the flags' typed values. */
export interface CommandSpec<F extends Flags> {
  readonly path: readonly string[]
  readonly summary: string
  readonly args?: string
  readonly example: string
  readonly flags: F
  run(ctx: CommandContext<FlagValues<F>>): Promise<number | undefined>
}

/** Define a command: its parseArgs options and typed values come from its flag table. */
export function defineCommand<const F extends Flags>(spec: CommandSpec<F>): Command {
  return {
    path: spec.path,
    summary: spec.summary,
    ...(spec.args !== undefined ? { args: spec.args } : {}),
    example: spec.example,
    flags: spec.flags,
    options: parseOptions(spec.flags),
    run: (ctx) => spec.run({ ...ctx, values: resolveFlags(spec.flags, ctx.values) }),
  }
}

/** The flags every command takes besides its own. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

/** node:util parseArgs over a command's flags (strict: an unknown flag throws parseArgs' error). */
export function parseCommandLine(
  cmd: Command,
  args: readonly string[],
): { values: Values; positionals: string[] } {
  return parseArgs({
    args: [...args],
    options: { ...cmd.options, ...COMMON_OPTIONS },
    allowPositionals: true,
    strict: true,
  })
}
