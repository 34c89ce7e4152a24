import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createLogger } from '../../src/logger.js'

/** A pino destination that keeps the JSON lines it is given. */
function capture(): { lines: Record<string, unknown>[]; write: (s: string) => void } {
  const lines: Record<string, unknown>[] = []
  return { lines, write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) }
}

test('createLogger writes JSON lines with the component, honours the level, redacts secrets', () => {
  const out = capture()
  const log = createLogger('unit', { level: 'info', destination: out })
  log.debug('not shown')
  log.info({ key: 'k-bytes', nested: { passphrase: 'pw' }, size: 4096 }, 'hello')
  assert.equal(out.lines.length, 1)
  const line = out.lines[0] as Record<string, unknown>
  assert.equal(line.msg, 'hello')
  assert.equal(line.component, 'unit')
  assert.equal(line.name, 'unit')
  assert.equal(line.size, 4096)
  assert.equal(line.key, '[redacted]')
  assert.deepEqual(line.nested, { passphrase: '[redacted]' })
})

test('createLogger logs errors by code and message only', () => {
  const out = capture()
  const log = createLogger('unit', { destination: out })
  const e = Object.assign(new Error('it broke', { cause: 'secret cause' }), { code: 'ERR_X_Y' })
  log.error({ err: e }, 'failed')
  const line = out.lines[0] as Record<string, unknown>
  assert.deepEqual(line.err, { type: 'Error', code: 'ERR_X_Y', message: 'it broke' })
  assert.doesNotMatch(JSON.stringify(line), /secret cause|at .*logger\.test/)
})

test('importing @ward/core does not load pino; the first createLogger does', () => {
  // A fresh process: this one has already created loggers above.
  const index = fileURLToPath(new URL('../../src/index.js', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const req = createRequire(${JSON.stringify(index)})
    const loaded = () => Object.keys(req.cache).some((k) => /[\\\\/]pino[\\\\/]/.test(k))
    const core = await import(${JSON.stringify(index)})
    const before = loaded()
    core.createLogger('x', { destination: { write() {} } })
    console.log(JSON.stringify({ before, after: loaded() }))
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true })
})

test('chooseLogFormat: flag, then WARD_LOG_FORMAT, then pretty on a terminal and json otherwise', async () => {
  const { chooseLogFormat } = await import('../../src/logger.js')
  assert.equal(chooseLogFormat({ isTTY: true }), 'pretty')
  assert.equal(chooseLogFormat({ isTTY: false }), 'json')
  assert.equal(chooseLogFormat({}), 'json')
  assert.equal(chooseLogFormat({ isTTY: true, flag: 'json' }), 'json')
  assert.equal(chooseLogFormat({ isTTY: false, flag: 'pretty' }), 'pretty')
  assert.equal(chooseLogFormat({ isTTY: true, env: 'json' }), 'json')
  assert.equal(chooseLogFormat({ isTTY: false, env: 'pretty', flag: 'json' }), 'json')
  assert.equal(chooseLogFormat({ isTTY: true, env: '' }), 'pretty')
  assert.equal(chooseLogFormat({ flag: 'xml' }), undefined)
  assert.equal(chooseLogFormat({ env: 'yaml' }), undefined)
})

test('the pretty format: one readable line per record, fields dotted, secrets still redacted', async () => {
  const { formatLogLine } = await import('../../src/logger.js')
  const lines: string[] = []
  const log = createLogger('kms', {
    format: 'pretty',
    destination: { write: (s: string) => void lines.push(s) },
  })
  log.info(
    { key: 'k-bytes', nested: { passphrase: 'pw' }, conn: 7, addr: '10.0.0.1:5696' },
    'listening on x',
  )
  log.warn({ err: Object.assign(new Error('bad thing'), { code: 'ERR_X_Y' }) }, 'failed')
  const all = lines.join('')
  assert.equal(all.split('\n').filter(Boolean).length, 2)
  assert.match(
    all,
    /^\d\d:\d\d:\d\d\.\d{3} INFO {2}kms: listening on x key=\[redacted\] nested\.passphrase=\[redacted\] conn=7 addr=10\.0\.0\.1:5696\n/,
  )
  assert.match(
    all,
    /WARN {2}kms: failed err\.type=Error err\.code=ERR_X_Y err\.message="bad thing"\n$/,
  )
  assert.doesNotMatch(all, /k-bytes|pw\b|[{}]/)
  // a line that is not a JSON object passes through
  assert.equal(formatLogLine('plain text'), 'plain text\n')
  assert.equal(
    formatLogLine(JSON.stringify({ level: 50, time: 0, msg: 'm', a: [1, 2] })),
    '00:00:00.000 ERROR m a=[1,2]\n',
  )
})
