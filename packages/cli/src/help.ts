import type { Command } from './command.js'
import { flagHelp } from './flags.js'

/** `ward [GROUP] --help`, or an unknown command: the commands under the words given. */
export function groupHelp(prefix: readonly string[], list: readonly Command[]): string {
  const matching = list.filter((c) => prefix.every((w, i) => c.path[i] === w))
  const known = matching.length > 0
  const shown = known ? matching : list
  const lines = [
    ...(known ? [] : [`ward: unknown command '${prefix.join(' ')}'`, '']),
    `Usage: ward ${known && prefix.length ? prefix.join(' ') + ' ' : ''}<command> [options]`,
    '',
    'Commands:',
  ]
  const width = Math.max(...shown.map((c) => c.path.join(' ').length), 10)
  for (const c of shown) lines.push(`  ${c.path.join(' ').padEnd(width)}  ${c.summary}`)
  lines.push('', 'Every command takes --help; commands that print data take --json.', '')
  return lines.join('\n')
}

/** `ward COMMAND --help`: usage, summary, every flag from its spec, one example. */
export function commandHelp(c: Command): string {
  return [
    `Usage: ward ${c.path.join(' ')}${c.args ? ' ' + c.args : ''} [options]`,
    '',
    c.summary,
    '',
    'Options:',
    ...Object.entries(c.flags).map(([name, f]) => flagHelp(name, f)),
    `  ${'--json'.padEnd(34)} machine-readable output`,
    `  ${'--help'.padEnd(34)} this help`,
    '',
    'Example:',
    `  ${c.example}`,
    '',
  ].join('\n')
}
