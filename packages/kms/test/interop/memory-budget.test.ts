/**
 * Issue 10, finding 8 and its neighbours: request bytes buffered over all connections stay
 * within one budget (frames over it wait, other clients are served); a reply is bounded
 * (Response Too Large) and a client that does not read its replies holds up only itself.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { connect } from 'node:tls'
import { after, before, describe, test } from 'node:test'
import {
  BatchErrorContinuationOption,
  HashingAlgorithm,
  Operation,
  ResultReason,
  Tag,
  bytes,
  decodeTtlv,
  enumeration,
  int,
  requiredValue,
  structure,
} from '@ward/kmip'
import { parseResponse } from '../../src/testing.js'
import { P, startFixture, createAes, requestMessage, encodeRequest } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const create = createAes()

const hashRequest = (d: Buffer): Buffer =>
  requestMessage(
    Operation.Hash,
    P(
      structure(Tag.CryptographicParameters, [
        enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
      ]),
      bytes(Tag.Data, d),
    ),
  )

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('request memory budget', () => {
  let f: Fixture
  before(async () => {
    // Scaled down: 1 MiB budget (768 KiB of it open to frames over 64 KiB), 256 KiB messages.
    f = await startFixture({
      maxMessageBytes: 256 << 10,
      maxBufferedBytes: 1 << 20,
      readTimeoutMs: 60_000,
    })
  })
  after(async () => {
    await f.close()
  })

  test('slow large frames wait for the budget, never exceed it, and a normal client is served', async () => {
    const normal = await f.client('normal')
    await f.tls('hog')
    const hogs = await Promise.all(Array.from({ length: 6 }, () => f.client('hog')))
    const data = hogs.map(() => randomBytes(200_000))
    const wires = data.map(hashRequest)
    const frame = wires[0]!.length
    // Each hog sends its header and the first KiB, then stalls (a slow upload).
    const answers = hogs.map((h, i) => h.sendRaw(wires[i]!.subarray(0, 1024)))
    for (let i = 0; i < 250 && f.server.stats().framesWaiting < 3; i++) await sleep(20)
    const st = f.server.stats()
    // Three frames fit in the 768 KiB open to large frames; the other three wait.
    assert.equal(st.bufferedBytes, 3 * frame)
    assert.equal(st.framesWaiting, 3)
    assert.ok(st.peakBufferedBytes <= st.maxBufferedBytes)
    // Other clients are served (their small frames use the quarter kept for them).
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now()
      const [r] = await normal.batch([{ op: Operation.Create, payload: create }])
      assert.equal(r?.status, 0)
      assert.ok(Date.now() - t0 < 2000, 'a normal request is answered within 2 s')
    }
    // The uploads finish: every hog is answered (the waiting ones once the first are done).
    for (const [i, h] of hogs.entries()) h.sendRaw(wires[i]!.subarray(1024)).catch(() => {})
    const res = await Promise.all(answers)
    for (const [i, r] of res.entries()) {
      const [item] = parseResponse(decodeTtlv(r))
      assert.equal(item?.status, 0)
      assert.deepEqual(
        Buffer.from(requiredValue(item?.payload, Tag.Data, 'ByteString')),
        createHash('sha256').update(data[i]!).digest(),
      )
    }
    for (let i = 0; i < 50 && f.server.stats().bufferedBytes > 0; i++) await sleep(20)
    const end = f.server.stats()
    assert.equal(end.bufferedBytes, 0)
    assert.equal(end.framesWaiting, 0)
    assert.ok(end.memoryWaits >= 3)
    assert.ok(end.peakBufferedBytes <= end.maxBufferedBytes, `peak ${end.peakBufferedBytes}`)
  })

  test('a reply is bounded: Response Too Large past the largest message or the Maximum Response Size', async () => {
    const c = await f.client('big-replies')
    const rng = (n: number) => ({ op: Operation.RNGRetrieve, payload: P(int(Tag.DataLength, n)) })
    const raw = await c.sendRaw(
      (() => {
        const items = Array.from({ length: 5 }, (_, i) =>
          structure(Tag.BatchItem, [
            enumeration(Tag.Operation, Operation.RNGRetrieve),
            bytes(Tag.UniqueBatchItemID, Buffer.from([i])),
            P(int(Tag.DataLength, 65536)),
          ]),
        )
        return encodeRequest(items)
      })(),
    )
    assert.ok(raw.length <= 256 << 10, `reply of ${raw.length} bytes`)
    const items = parseResponse(decodeTtlv(raw))
    assert.deepEqual(
      items.map((i) => i.status),
      [0, 0, 0, 1, 1],
    )
    assert.equal(items[3]!.reason, ResultReason.ResponseTooLarge)
    assert.match(items[3]!.message ?? '', /ERR_KMS_RESPONSE_TOO_LARGE/)
    assert.equal(items[4]!.reason, ResultReason.OperationCanceledByRequester)
    // The request's own Maximum Response Size (KMIP 1.4 §6.3).
    const small = [int(Tag.MaximumResponseSize, 1024)]
    assert.equal((await c.batch([rng(512)], small))[0]!.status, 0)
    const [tooBig] = await c.batch([rng(2048)], small)
    assert.equal(tooBig!.reason, ResultReason.ResponseTooLarge)
    const cont = [
      enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue),
      int(Tag.MaximumResponseSize, 4096),
    ]
    const two = await c.batch([rng(3000), rng(3000)], cont)
    assert.deepEqual(
      two.map((i) => i.reason),
      [undefined, ResultReason.ResponseTooLarge],
    )
  })
})

describe('a client that does not read its replies', () => {
  let f: Fixture
  before(async () => {
    f = await startFixture({ readTimeoutMs: 1500, idleTimeoutMs: 60_000 })
  })
  after(async () => {
    await f.close()
  })

  test('holds at most one unread reply on the server and is closed at the reply deadline; others are served', async () => {
    const normal = await f.client('reader')
    const t = await f.tls('non-reader')
    const sock = connect({
      host: '127.0.0.1',
      port: f.server.port,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      servername: 'localhost',
    })
    await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j))
    sock.on('error', () => {})
    // Never read: the replies (200 × 64 KiB = 12.5 MiB) pile up in the kernel, then the server.
    sock.pause()
    const one = requestMessage(Operation.RNGRetrieve, P(int(Tag.DataLength, 65536)))
    sock.write(Buffer.concat(Array.from({ length: 200 }, () => one)))
    // (A paused client sees the server's close only once it reads: watch the server's side.)
    let maxPending = 0
    const t0 = Date.now()
    while (f.server.stats().slowClosed === 0 && Date.now() - t0 < 15_000) {
      maxPending = Math.max(maxPending, f.server.stats().pendingReplyBytes)
      await sleep(20)
    }
    assert.equal(f.server.stats().slowClosed, 1, 'closed by the server')
    assert.ok(maxPending > 0, 'a reply waited for the client')
    assert.ok(maxPending <= 66_000, `pending reply bytes ${maxPending} (one reply at most)`)
    sock.destroy()
    const [r] = await normal.batch([{ op: Operation.Create, payload: create }])
    assert.equal(r?.status, 0)
  })
})
