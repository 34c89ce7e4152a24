import type { ParseArgsConfig } from 'node:util'
import type { Output } from './output.js'

export type Options = NonNullable<ParseArgsConfig['options']>
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>

/** One CLI command: a plain async function plus its flag table (parsed with node:util parseArgs). */
export interface Command {
  /** Words after `ward`, e.g. ['crypto-util', 'disk', 'encrypt']. */
  readonly path: readonly string[]
  readonly summary: string
  /** Positional arguments, for help, e.g. 'FILE'. */
  readonly args?: string
  readonly options: Options
  /** Extra help lines per option name. */
  readonly help?: Readonly<Record<string, string>>
  run(ctx: CommandContext): Promise<number | undefined>
}

export interface CommandContext {
  readonly values: Values
  readonly positionals: readonly string[]
  readonly out: Output
}

/** Helper for defining a command with inference. */
export const defineCommand = (c: Command): Command => c
