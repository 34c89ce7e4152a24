import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { CliError } from '../../src/errors.js'
import { parseCommandLine, type Command } from '../../src/command.js'
import { commandGroups } from '../../src/commands/index.js'
import { bool, choice, int, list, onOff, resolveFlags, text, texts, tf } from '../../src/flags.js'
import { commandHelp } from '../../src/help.js'

// Every command of the command table, walked: its --help lists every flag with a description and
// shows one example, and the example parses with the command's own flags (parseArgs strict, then
// each flag's parser: required flags present, values valid). Before: flags were parseArgs options
// with an optional help table beside them (many flags had no description), and no command had an
// example.
const bin = fileURLToPath(new URL('../../../bin/ward', import.meta.url))

async function allCommands(): Promise<Command[]> {
  const all: Command[] = []
  for (const g of commandGroups) all.push(...(await g.load()))
  return all
}

test('every command: --help describes every flag and shows an example that parses with its flags', async () => {
  const all = await allCommands()
  assert.ok(all.length >= 30, `${all.length} commands`)
  const bad: string[] = []
  for (const c of all) {
    const name = `ward ${c.path.join(' ')}`
    const help = commandHelp(c)
    assert.deepEqual(Object.keys(c.options), Object.keys(c.flags), name)
    for (const [flag, f] of Object.entries(c.flags)) {
      if (f.help.trim().length < 8) bad.push(`${name} --${flag}: no description`)
      const line = help.split('\n').find((l) => l.trimStart().startsWith(`--${flag} `))
      if (line === undefined || !line.includes(f.help))
        bad.push(`${name} --help: --${flag} missing`)
    }
    const ex = /\nExample:\n {2}(.+)\n/.exec(help)?.[1]
    if (ex !== c.example) bad.push(`${name} --help: no example`)
    const words = c.example.split(/\s+/)
    if (words.slice(0, c.path.length + 1).join(' ') !== name) {
      bad.push(`${name}: the example runs another command: ${c.example}`)
      continue
    }
    try {
      const parsed = parseCommandLine(c, words.slice(c.path.length + 1))
      resolveFlags(c.flags, parsed.values)
      if (c.args === undefined && parsed.positionals.length > 0)
        bad.push(`${name}: the example gives arguments the command does not take`)
    } catch (e) {
      bad.push(`${name}: the example does not parse: ${(e as Error).message}`)
    }
  }
  assert.deepEqual(bad, [])
})

test('--help of a real command, as the binary prints it: flags with value names, notes and the example', () => {
  const r = spawnSync(bin, ['crypto-util', 'disk', 'encrypt', '--help'], { encoding: 'utf8' })
  assert.equal(r.status, 0)
  assert.match(r.stdout, /^Usage: ward crypto-util disk encrypt \[options\]$/m)
  assert.match(
    r.stdout,
    /^ {2}--kek-file FILE +file holding the 32-byte KEK, mode 0600 \(required\)$/m,
  )
  assert.match(
    r.stdout,
    /^ {2}--provider-id ID +key provider id recorded in the Ward token \(default: offline\)$/m,
  )
  assert.match(r.stdout, /^ {2}--pbkdf argon2id\|argon2i\|pbkdf2 +/m)
  assert.match(r.stdout, /^ {2}--force-raw +encrypt the input/m)
  assert.match(r.stdout, /^Example:\n {2}ward crypto-util disk encrypt --in vm\.img /m)
})

test('flag specs: typed values, defaults, required flags and bad values as ERR_CLI_USAGE naming the flag', () => {
  const flags = {
    name: text('a name', { required: true }),
    kind: choice(['TPM', 'NONE'], 'a kind', { ignoreCase: true }),
    count: int('a count', { min: 1, max: 9, default: 3 }),
    ops: list('operations'),
    on: onOff('a switch', { default: true }),
    t: tf('esxcli style'),
    all: bool('everything'),
    server: texts('servers'),
  } as const
  const v = resolveFlags(flags, { name: 'x', kind: 'tpm', ops: 'get, encrypt,,', t: 'F' })
  // the types follow the specs: required and defaulted flags are never undefined
  const typed: {
    name: string
    kind: 'TPM' | 'NONE' | undefined
    count: number
    ops: string[] | undefined
    on: boolean
    t: boolean | undefined
    all: boolean
    server: string[]
  } = v
  assert.deepEqual(typed, {
    name: 'x',
    kind: 'TPM',
    count: 3,
    ops: ['get', 'encrypt'],
    on: true,
    t: false,
    all: false,
    server: [],
  })
  const refused = (raw: Record<string, string>, flag: string, message: RegExp): void =>
    assert.throws(
      () => resolveFlags(flags, { name: 'x', ...raw }),
      (e: unknown) => {
        assert.ok(e instanceof CliError)
        assert.equal(e.code, 'ERR_CLI_USAGE')
        assert.match(e.message, message)
        assert.equal(e.details.option, flag)
        return true
      },
    )
  assert.throws(() => resolveFlags(flags, {}), /--name is required/)
  refused({ name: '' }, 'name', /--name needs a value/)
  refused({ kind: 'maybe' }, 'kind', /--kind must be TPM or NONE \(got maybe\)/)
  refused({ count: '0' }, 'count', /--count must be a whole number from 1 to 9 \(got 0\)/)
  refused({ count: '2x' }, 'count', /whole number/)
  refused({ on: 'maybe' }, 'on', /--on takes on or off \(got maybe\)/)
  refused({ t: 'yes' }, 't', /--t takes T, true, F or false \(got yes\)/)
})
