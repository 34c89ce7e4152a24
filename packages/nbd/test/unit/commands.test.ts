import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  CMD,
  CMD_FLAG,
  NBD_ERR,
  TRANSMISSION_FLAG as TF,
  checkRequest,
  errnoOf,
  NbdError,
  type ExportLimits,
} from '../../src/index.js'

const all = TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.SEND_TRIM | TF.SEND_WRITE_ZEROES
const e: ExportLimits = { size: 1 << 20, transmissionFlags: all, maxPayload: 1 << 16, minBlock: 1 }
const r = (type: number, offset = 0, length = 0, flags = 0) => ({ type, offset, length, flags })

test('valid requests of every command pass', () => {
  assert.equal(checkRequest(r(CMD.READ, 0, 4096), e), 0)
  assert.equal(checkRequest(r(CMD.READ, (1 << 20) - 1, 1), e), 0)
  assert.equal(checkRequest(r(CMD.READ, 1 << 20, 0), e), 0) // empty read at the end
  assert.equal(checkRequest(r(CMD.WRITE, 512, 1 << 16, CMD_FLAG.FUA), e), 0)
  assert.equal(checkRequest(r(CMD.FLUSH), e), 0)
  assert.equal(checkRequest(r(CMD.FLUSH, 0, 0, CMD_FLAG.FUA), e), 0) // FUA is valid on every command
  assert.equal(checkRequest(r(CMD.TRIM, 0, 1 << 20), e), 0) // no payload: may exceed maxPayload
  assert.equal(checkRequest(r(CMD.WRITE_ZEROES, 0, 1 << 20, CMD_FLAG.NO_HOLE | CMD_FLAG.FUA), e), 0)
  assert.equal(checkRequest(r(CMD.DISC, 5, 5), e), 0)
})

test('ranges past the end: EINVAL for read and trim, ENOSPC for write and zeroes', () => {
  const past = [
    [1 << 20, 1],
    [(1 << 20) - 1, 2],
    [(1 << 20) + 1, 0],
    [2 ** 64, 512], // a decoded 64-bit offset above 2^53
    [2 ** 53, 4096],
  ] as const
  for (const [off, len] of past) {
    assert.equal(checkRequest(r(CMD.READ, off, len), e), NBD_ERR.EINVAL, `read ${off}+${len}`)
    assert.equal(checkRequest(r(CMD.TRIM, off, len), e), NBD_ERR.EINVAL, `trim ${off}+${len}`)
    assert.equal(checkRequest(r(CMD.WRITE, off, len), e), NBD_ERR.ENOSPC, `write ${off}+${len}`)
    assert.equal(
      checkRequest(r(CMD.WRITE_ZEROES, off, len), e),
      NBD_ERR.ENOSPC,
      `zero ${off}+${len}`,
    )
  }
  // length alone past the end, offset 0
  assert.equal(checkRequest(r(CMD.TRIM, 0, 2 ** 32 - 1), e), NBD_ERR.EINVAL)
})

test('reads over the maximum payload are EINVAL (writes over it never get here: the server closes)', () => {
  assert.equal(checkRequest(r(CMD.READ, 0, (1 << 16) + 1), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.READ, 0, 2 ** 32 - 1), e), NBD_ERR.EINVAL)
})

test('unknown commands, inapplicable and unknown flags are EINVAL', () => {
  for (const t of [CMD.CACHE, CMD.BLOCK_STATUS, CMD.RESIZE, 9, 0xffff])
    assert.equal(checkRequest(r(t, 0, 512), e), NBD_ERR.EINVAL, `type ${t}`)
  assert.equal(checkRequest(r(CMD.READ, 0, 512, CMD_FLAG.DF), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.READ, 0, 512, CMD_FLAG.NO_HOLE), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.WRITE, 0, 512, CMD_FLAG.NO_HOLE), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.WRITE_ZEROES, 0, 512, CMD_FLAG.FAST_ZERO), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.READ, 0, 512, 0x8000), e), NBD_ERR.EINVAL)
})

test('FLUSH with non-zero offset or length is EINVAL', () => {
  assert.equal(checkRequest(r(CMD.FLUSH, 1, 0), e), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.FLUSH, 0, 1), e), NBD_ERR.EINVAL)
})

test('commands whose flag is not advertised are EINVAL', () => {
  const noTrim = { ...e, transmissionFlags: all & ~TF.SEND_TRIM }
  assert.equal(checkRequest(r(CMD.TRIM, 0, 512), noTrim), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.READ, 0, 512), noTrim), 0)
})

test('read-only exports refuse writes, trims and zeroes with EPERM', () => {
  const ro = { ...e, transmissionFlags: all | TF.READ_ONLY }
  assert.equal(checkRequest(r(CMD.WRITE, 0, 512), ro), NBD_ERR.EPERM)
  assert.equal(checkRequest(r(CMD.TRIM, 0, 512), ro), NBD_ERR.EPERM)
  assert.equal(checkRequest(r(CMD.WRITE_ZEROES, 0, 512), ro), NBD_ERR.EPERM)
  assert.equal(checkRequest(r(CMD.READ, 0, 512), ro), 0)
  assert.equal(checkRequest(r(CMD.FLUSH), ro), 0)
})

test('a minimum block size is enforced on offsets and lengths', () => {
  const b = { ...e, minBlock: 512 }
  assert.equal(checkRequest(r(CMD.READ, 512, 1024), b), 0)
  assert.equal(checkRequest(r(CMD.READ, 1, 512), b), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.WRITE, 512, 100), b), NBD_ERR.EINVAL)
  assert.equal(checkRequest(r(CMD.TRIM, 0, 513), b), NBD_ERR.EINVAL)
})

test('backend errors map to NBD error values', () => {
  const sys = (code: string) => Object.assign(new Error(code), { code })
  assert.equal(errnoOf(sys('ENOSPC')), NBD_ERR.ENOSPC)
  assert.equal(errnoOf(sys('EDQUOT')), NBD_ERR.ENOSPC)
  assert.equal(errnoOf(sys('EFBIG')), NBD_ERR.ENOSPC)
  assert.equal(errnoOf(sys('EROFS')), NBD_ERR.EPERM)
  assert.equal(errnoOf(sys('EACCES')), NBD_ERR.EPERM)
  assert.equal(errnoOf(sys('ENOMEM')), NBD_ERR.ENOMEM)
  assert.equal(errnoOf(sys('EIO')), NBD_ERR.EIO)
  assert.equal(errnoOf(sys('EBADF')), NBD_ERR.EIO)
  assert.equal(errnoOf(new Error('x')), NBD_ERR.EIO)
  assert.equal(errnoOf(null), NBD_ERR.EIO)
  assert.equal(errnoOf('str'), NBD_ERR.EIO)
  assert.equal(
    errnoOf(new NbdError('ERR_NBD_BACKEND', 'x', { errno: NBD_ERR.ENOSPC })),
    NBD_ERR.ENOSPC,
  )
  assert.equal(errnoOf(new NbdError('ERR_NBD_BACKEND', 'x', { errno: 99 })), NBD_ERR.EIO)
})
