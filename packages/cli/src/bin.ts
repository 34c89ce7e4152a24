import { isCodedError } from '@ward/core'
import { parseCommandLine, type Command } from './command.js'
import { commandGroups, loadCommands } from './commands/index.js'
import { commandHelp, groupHelp } from './help.js'
import { createOutput } from './output.js'

const VERSION = '0.1.0'

/** What `ward --version` reports: Ward's version and the runtime it runs on. */
export function versions(): { ward: string; node: string; openssl: string; v8: string } {
  return {
    ward: VERSION,
    node: process.versions.node,
    openssl: process.versions.openssl,
    v8: process.versions.v8,
  }
}

/** Entry point of the `ward` binary. Returns the exit code (0 ok, 1 "no"/failure, 2 error). */
export async function main(
  argv: readonly string[],
  commands?: readonly Command[],
): Promise<number> {
  const words: string[] = []
  for (const a of argv) {
    if (a.startsWith('-')) break
    words.push(a)
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    const v = versions()
    process.stdout.write(
      argv.includes('--json')
        ? `${JSON.stringify(v)}\n`
        : `ward ${v.ward} (Node.js ${v.node}, OpenSSL ${v.openssl})\n`,
    )
    return 0
  }
  const list = commands ?? (await commandsFor(words))
  // longest command path that prefixes the words
  let cmd: Command | undefined
  for (const c of list)
    if (
      c.path.length <= words.length &&
      c.path.every((w, i) => words[i] === w) &&
      (!cmd || c.path.length > cmd.path.length)
    )
      cmd = c
  const wantsHelp = argv.includes('--help') || argv.includes('-h')
  if (!cmd || (wantsHelp && !cmd)) {
    process.stdout.write(groupHelp(words, list))
    return words.length === 0 || wantsHelp ? 0 : 2
  }
  if (wantsHelp) {
    process.stdout.write(commandHelp(cmd))
    return 0
  }
  const rest = argv.slice(cmd.path.length)
  let parsed
  try {
    parsed = parseCommandLine(cmd, rest)
  } catch (e) {
    const message = usageMessage(e, rest, Object.keys(cmd.options))
    if (rest.includes('--json'))
      process.stdout.write(`${JSON.stringify({ error: { code: 'ERR_CLI_USAGE', message } })}\n`)
    process.stderr.write(
      `ward ${cmd.path.join(' ')}: ${message} [ERR_CLI_USAGE]\nRun 'ward ${cmd.path.join(' ')} --help' for usage.\n`,
    )
    return 2
  }
  const out = createOutput(parsed.values.json === true)
  try {
    const code = await cmd.run({ values: parsed.values, positionals: parsed.positionals, out })
    return code ?? 0
  } catch (e) {
    if (isCodedError(e)) {
      if (out.json)
        process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`)
      process.stderr.write(`ward ${cmd.path.join(' ')}: ${e.message} [${e.code}]\n`)
      return 2
    }
    process.stderr.write(
      `ward ${cmd.path.join(' ')}: internal error: ${(e as Error)?.message ?? String(e)}\n`,
    )
    return 2
  }
}

const prefixes = (path: readonly string[], words: readonly string[]): boolean =>
  path.length <= words.length && path.every((w, i) => words[i] === w)

/**
 * The commands that may match `words`. When the most specific group the words name holds the
 * command, that group is loaded alone: `crypto-util disk encrypt` loads the disk commands and
 * what they import, not the other crypto-util groups (VM files, bundles), whose module loading
 * a disk run would otherwise pay (figure: bench/README.md, "Figures from source comments").
 * Anything else (group help, unknown commands)
 * loads every group that agrees with the words, as before.
 */
async function commandsFor(words: readonly string[]): Promise<readonly Command[]> {
  let best: (typeof commandGroups)[number] | undefined
  for (const g of commandGroups)
    if (prefixes(g.prefix, words) && (!best || g.prefix.length > best.prefix.length)) best = g
  if (best) {
    const group = await best.load()
    if (group.some((c) => prefixes(c.path, words))) return group
  }
  return loadCommands(words)
}

const PARSE_ARGS = 'ERR_PARSE_ARGS_'

/**
 * A parse failure said the way the rest of the CLI says usage errors (ERR_CLI_USAGE): the flag at
 * fault and, for an unknown one, the closest known flag.
 */
export function usageMessage(
  e: unknown,
  args: readonly string[],
  known: readonly string[],
): string {
  // Node's parseArgs codes (Node's, not Ward's: named by their suffix after this prefix)
  const nodeCode = (e as { code?: string }).code ?? ''
  const code = nodeCode.startsWith(PARSE_ARGS) ? nodeCode.slice(PARSE_ARGS.length) : ''
  const all = [...known, 'json', 'help']
  if (code === 'UNKNOWN_OPTION') {
    const flag = args
      .filter((a) => a.startsWith('-') && a !== '--')
      .map((a) => a.replace(/^-+/, '').split('=')[0] ?? '')
      .find((n) => !all.includes(n) && n !== 'h')
    if (flag !== undefined) {
      const near = closest(flag, all)
      return `unknown option --${flag}${near ? ` (did you mean --${near}?)` : ''}`
    }
  }
  if (code === 'INVALID_OPTION_VALUE') {
    const m = /'--([\w-]+)/.exec((e as Error).message)
    if (m) return `--${m[1]} needs a value`
  }
  if (code === 'UNEXPECTED_POSITIONAL') return (e as Error).message.split('.')[0] ?? ''
  return (e as Error).message
}

/** The known name at the smallest edit distance from `name`, when it is close enough to be a typo. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const k of known) {
    const d = distance(name, k)
    if (d < bestD) [best, bestD] = [k, d]
  }
  const prefix = known.find((k) => k.startsWith(name) || name.startsWith(k))
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : prefix
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] ?? 0
      row[j] = Math.min(here + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = here
    }
  }
  return row[b.length] ?? 0
}
