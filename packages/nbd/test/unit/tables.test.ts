import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  CLIENT_FLAG,
  CMD,
  CMD_FLAG,
  COMMANDS,
  ClientFlags,
  ExportNameReply,
  HANDSHAKE_FLAG,
  INFO,
  InfoBlockSize,
  InfoExport,
  MAGIC,
  NBD_ERR,
  OPT,
  OptionHeader,
  OptionReplyHeader,
  REP,
  Request,
  ServerGreeting,
  SimpleReply,
  TRANSMISSION_FLAG,
  decode,
  encode,
  flagNames,
  layout,
  nameOf,
} from '../../src/index.js'

const root = fileURLToPath(new URL('../../../', import.meta.url)) // packages/nbd/

test('constant tables have the spec sizes and no duplicate values', () => {
  const tables: [string, Record<string, number | bigint>, number][] = [
    ['MAGIC', MAGIC, 6],
    ['HANDSHAKE_FLAG', HANDSHAKE_FLAG, 2],
    ['CLIENT_FLAG', CLIENT_FLAG, 2],
    ['TRANSMISSION_FLAG', TRANSMISSION_FLAG, 12],
    ['OPT', OPT, 11],
    ['REP', REP, 14],
    ['INFO', INFO, 4],
    ['CMD', CMD, 9],
    ['CMD_FLAG', CMD_FLAG, 6],
    ['NBD_ERR', NBD_ERR, 8],
  ]
  for (const [name, t, n] of tables) {
    assert.equal(Object.keys(t).length, n, `${name} size`)
    assert.equal(new Set(Object.values(t)).size, n, `${name} values distinct`)
  }
  // spot values straight from proto.md
  assert.equal(MAGIC.REQUEST, 0x25609513)
  assert.equal(MAGIC.SIMPLE_REPLY, 0x67446698)
  assert.equal(MAGIC.OPTION_REPLY, 0x3e889045565a9n)
  assert.equal(REP.ERR_UNSUP, 2 ** 31 + 1)
  assert.equal(NBD_ERR.EOVERFLOW, 75)
  assert.equal(TRANSMISSION_FLAG.CAN_MULTI_CONN, 256)
})

test('command rules use codes from CMD under their own names', () => {
  for (const [k, r] of Object.entries(COMMANDS)) assert.equal(r.cmd, CMD[k as keyof typeof CMD], k)
  assert.deepEqual(Object.keys(COMMANDS).sort(), [
    'DISC',
    'FLUSH',
    'READ',
    'TRIM',
    'WRITE',
    'WRITE_ZEROES',
  ])
})

test('message layouts have the spec sizes', () => {
  assert.equal(ServerGreeting.size, 18)
  assert.equal(ClientFlags.size, 4)
  assert.equal(OptionHeader.size, 16)
  assert.equal(OptionReplyHeader.size, 20)
  assert.equal(ExportNameReply.size, 10)
  assert.equal(InfoExport.size, 12)
  assert.equal(InfoBlockSize.size, 14)
  assert.equal(Request.size, 28)
  assert.equal(SimpleReply.size, 16)
})

test('byte-exact encodings', () => {
  assert.equal(
    Buffer.from(encode(ServerGreeting, { handshakeFlags: 3 })).toString('hex'),
    '4e42444d41474943' + '49484156454f5054' + '0003',
  )
  assert.equal(
    Buffer.from(
      encode(Request, {
        flags: 1,
        type: CMD.WRITE,
        cookie: 0x0102030405060708n,
        offset: 2 ** 40 + 5,
        length: 4096,
      }),
    ).toString('hex'),
    '25609513' + '0001' + '0001' + '0102030405060708' + '0000010000000005' + '00001000',
  )
  assert.equal(
    Buffer.from(
      encode(SimpleReply, { error: NBD_ERR.EINVAL, cookie: 0xffffffffffffffffn }),
    ).toString('hex'),
    '67446698' + '00000016' + 'ffffffffffffffff',
  )
  assert.equal(
    Buffer.from(
      encode(OptionReplyHeader, { option: OPT.GO, type: REP.ERR_POLICY, length: 7 }),
    ).toString('hex'),
    '0003e889045565a9' + '00000007' + '80000002' + '00000007',
  )
  assert.equal(
    Buffer.from(encode(InfoExport, { size: 1 << 20, flags: 0x16d })).toString('hex'),
    '0000' + '0000000000100000' + '016d',
  )
  assert.equal(
    Buffer.from(encode(InfoBlockSize, { minimum: 1, preferred: 4096, maximum: 1 << 25 })).toString(
      'hex',
    ),
    '0003' + '00000001' + '00001000' + '02000000',
  )
})

test('decode round-trips, checks constants and lengths', () => {
  const r = { flags: 3, type: CMD.READ, cookie: 77n, offset: 123456789, length: 512 }
  assert.deepEqual(decode(Request, encode(Request, r)), r)
  const buf = Buffer.concat([Buffer.alloc(3), Buffer.from(encode(Request, r))])
  assert.deepEqual(decode(Request, buf, 3), r)
  const bad = Buffer.from(encode(Request, r))
  bad[0] = bad[0]! ^ 1
  assert.throws(() => decode(Request, bad), { code: 'ERR_NBD_BAD_MAGIC' })
  assert.throws(() => decode(Request, bad.subarray(0, 27)), { code: 'ERR_NBD_TRUNCATED' })
  assert.throws(() => decode(Request, bad, -1), { code: 'ERR_NBD_TRUNCATED' })
  // 64-bit offsets above 2^53 stay above 2^53 (out of range of any export)
  const huge = Buffer.from(encode(Request, r))
  huge.fill(0xff, 16, 24)
  assert.ok(decode(Request, huge).offset >= 2 ** 64 - 2 ** 12)
  const l = layout('t', { a: { kind: 'u16' }, b: { kind: 'u64' } })
  assert.equal(l.size, 10)
})

test('names and flag names', () => {
  assert.equal(nameOf(CMD, 6), 'WRITE_ZEROES')
  assert.equal(nameOf(CMD, 99), '0x63')
  assert.deepEqual(flagNames(CMD_FLAG, CMD_FLAG.FUA | CMD_FLAG.NO_HOLE | 0x100), [
    'FUA',
    'NO_HOLE',
    '0x100',
  ])
})

/** The row docs/nbd.md must have for each table entry: | `NBD_…` | value | */
function docRows(): string[] {
  const rows: string[] = []
  const bits = (prefix: string, t: Record<string, number>): void => {
    for (const [k, v] of Object.entries(t)) rows.push(`| \`${prefix}${k}\` | bit ${Math.log2(v)} |`)
  }
  const dec = (prefix: string, t: Record<string, number>): void => {
    for (const [k, v] of Object.entries(t)) rows.push(`| \`${prefix}${k}\` | ${v} |`)
  }
  bits('NBD_FLAG_', HANDSHAKE_FLAG)
  bits('NBD_FLAG_', CLIENT_FLAG)
  bits('NBD_FLAG_', TRANSMISSION_FLAG)
  bits('NBD_CMD_FLAG_', CMD_FLAG)
  dec('NBD_OPT_', OPT)
  dec('NBD_INFO_', INFO)
  dec('NBD_CMD_', CMD)
  dec('NBD_', NBD_ERR)
  for (const [k, v] of Object.entries(REP))
    rows.push(`| \`NBD_REP_${k}\` | ${v >= 2 ** 31 ? `2^31 + ${v - 2 ** 31}` : v} |`)
  for (const [k, v] of Object.entries(MAGIC)) {
    const name = k === 'NBDMAGIC' || k === 'IHAVEOPT' ? k : `NBD_${k}_MAGIC`
    rows.push(`| \`${name}\` | 0x${v.toString(16)} |`)
  }
  return rows
}

test('docs/nbd.md documents every table entry with its value', () => {
  const doc = readFileSync(join(root, '../../docs/nbd.md'), 'utf8')
  const rows = docRows()
  assert.equal(rows.length, 74)
  const missing = rows.filter((r) => !doc.includes(r))
  assert.deepEqual(missing, [])
})

test('every ERR_NBD_ code in the sources is documented in docs/errors/nbd.md', () => {
  const doc = readFileSync(join(root, '../../docs/errors/nbd.md'), 'utf8')
  const codes = new Set<string>()
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      if (statSync(p).isDirectory()) walk(p)
      else if (n.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/'(ERR_NBD_[A-Z_]+)'/g)) codes.add(m[1]!)
    }
  }
  walk(join(root, 'src'))
  assert.ok(codes.size >= 20)
  for (const c of codes) assert.ok(doc.includes('`' + c + '`'), `${c} is not documented`)
})
