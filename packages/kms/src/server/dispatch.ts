/**
 * Request Message → Response Message (KMIP 1.4 §7, 2.1 §8): header checks, every batch item
 * answered with its Unique Batch Item ID echoed, Batch Error Continuation Option honoured, the
 * response in the request's protocol version, ID placeholders carried between items.
 */
import { randomUUID } from 'node:crypto'
import { isCodedError } from '@ward/core'
import type { Logger } from '@ward/core'
import type { Barrier } from '../barrier/barrier.js'
import { KmsError, PRIVATE_MESSAGE, resultReasonOf } from '../errors.js'
import type { OpContext } from '../model/object.js'
import { isSupportedVersion } from '../operations/discover-versions.js'
import { operations } from '../operations/registry.js'
import { StoreOverlay } from '../storage/overlay.js'
import type { Store } from '../storage/store.js'
import {
  BatchErrorContinuationOption,
  KmipError,
  ReceivedBatchItem,
  ReceivedRequestMessage,
  ResultReason,
  ResultStatus,
  Tag,
  decodeStructure,
  decodeTtlv,
  encodeResponseMessage,
  find,
  isV2,
} from '@ward/kmip'
import type { PayloadInput, ProtocolVersion, ResponseBatchItem, TtlvItem } from '@ward/kmip'
import type { Audit, AuditRecord } from './audit.js'
import type { KmsRuntime } from './runtime.js'

export interface DispatchDeps {
  readonly store: Store
  readonly barrier: Barrier
  readonly logger: Logger
  readonly audit: Audit
  /** The server's streams, locks, random pool and id generator (runtime.ts). */
  readonly runtime: KmsRuntime
  readonly now?: () => bigint
  /**
   * Largest response (default: no limit). A batch item whose payload would take the response
   * over it, or over the request's Maximum Response Size (KMIP 1.4 §6.3), fails with Response
   * Too Large: a small request cannot make the server build a huge reply (1,000 RNG Retrieves
   * of 64 KiB each would be 64 MiB).
   */
  readonly maxResponseBytes?: number
  /** Bounds KMIP Log messages per identity (over it the Log item fails, nothing is logged). */
  readonly logRate?: { take(identity: string): boolean }
}

const MAX_BATCH = 1000
/** Bytes of a response besides its items' payloads: header, and per item its own fields. */
const HEADER_BYTES = 128
const ITEM_BYTES = 64
const FAILED_ITEM_BYTES = 512
const pad8 = (n: number): number => (n + 7) & ~7

/** Encoded size of an item tree (exact but for Big Integers, rounded up). */
function ttlvSize(i: TtlvItem | undefined): number {
  if (i === undefined) return 0
  switch (i.type) {
    case 'Structure': {
      let n = 8
      for (const c of i.value) n += ttlvSize(c)
      return n
    }
    case 'ByteString':
      return 8 + pad8(i.value.length)
    case 'TextString':
      return 8 + pad8(Buffer.byteLength(i.value))
    case 'BigInteger':
      return 16 + pad8(Math.ceil(i.value.toString(16).length / 2))
    default:
      return 16
  }
}

/** Longest run of one batch's items before other connections get a turn, in ms. */
const BATCH_SLICE_MS = 10
const opName = (code: number): string => operations.get(code)?.privilege ?? `operation-${code}`

/** A batch item of the response, as @ward/kmip's Response Batch Item declaration takes it. */
type AnswerItem = PayloadInput<typeof ResponseBatchItem>

/** The Response Message in the request's version, stamped now. */
function responseMessage(v: ProtocolVersion, items: readonly AnswerItem[]): Uint8Array {
  return encodeResponseMessage({
    header: {
      protocolVersion: v,
      timeStamp: BigInt(Math.floor(Date.now() / 1000)),
      batchCount: items.length,
    },
    items,
  })
}

/** A whole message answered Operation Failed (the request could not be read as a batch). */
function errorResponse(v: ProtocolVersion, ke: KmsError, requestId: string): Uint8Array {
  return responseMessage(v, [
    {
      resultStatus: ResultStatus.OperationFailed,
      resultReason: ResultReason[resultReasonOf(ke.code, v.major)],
      resultMessage: peerMessage(ke, requestId),
    },
  ])
}

/**
 * The Result Message of a failure: the message of a public code, a generic text for a private
 * one (its message is in the server log under the request id), then the code and the request id.
 */
const peerMessage = (ke: KmsError, requestId: string): string =>
  `${ke.expose ? ke.message : PRIVATE_MESSAGE} [${ke.code}, request ${requestId}]`

/** Headers read alike in every version. */
const ANY: ProtocolVersion = { major: 1, minor: 4 }

/**
 * The message's header and raw batch items, read by @ward/kmip's declaration. A header that
 * lacks a required field (Protocol Version, Batch Count) makes the whole message invalid.
 */
function readMessage(msg: TtlvItem) {
  if (msg.tag !== Tag.RequestMessage || msg.type !== 'Structure')
    throw new KmsError('ERR_KMS_INVALID_MESSAGE', 'not a Request Message')
  try {
    return decodeStructure(ReceivedRequestMessage, msg, ANY)
  } catch (e) {
    if (e instanceof KmipError && e.code === 'ERR_KMIP_MISSING_FIELD')
      throw new KmsError(
        'ERR_KMS_INVALID_MESSAGE',
        `Request Header with Protocol Version and Batch Count is required (${e.message})`,
        { cause: e },
      )
    throw e
  }
}

/** Handle one framed message; never throws (a malformed message gets Invalid Message). */
export async function handleMessage(
  deps: DispatchDeps,
  identity: string,
  wire: Uint8Array,
): Promise<Uint8Array> {
  let v: ProtocolVersion = { major: 1, minor: 0 }
  const requestId = randomUUID()
  try {
    const { header: hdr, items } = readMessage(decodeTtlv(wire))
    const { major, minor } = hdr.protocolVersion
    if (!isSupportedVersion(major, minor)) {
      // KMIP 1.4 §7.1: answer in a version we speak; the client should DiscoverVersions.
      v = isV2(hdr.protocolVersion) ? { major: 2, minor: 1 } : { major: 1, minor: 4 }
      throw new KmsError(
        'ERR_KMS_VERSION',
        `protocol version ${major}.${minor} is not supported (1.0-2.1)`,
      )
    }
    v = { major, minor }
    const count = hdr.batchCount
    if (count !== items.length || items.length === 0 || items.length > MAX_BATCH)
      throw new KmsError(
        'ERR_KMS_INVALID_MESSAGE',
        `Batch Count ${String(count)} does not match ${items.length} batch items (1-${MAX_BATCH})`,
      )
    const onError = hdr.batchErrorContinuationOption ?? BatchErrorContinuationOption.Stop
    const askedMax = hdr.maximumResponseSize
    const maxResponse = Math.min(
      deps.maxResponseBytes ?? Infinity,
      askedMax !== undefined && askedMax > 0 ? askedMax : Infinity,
    )
    // Bytes the response may still take (Infinity: unchecked).
    let room = maxResponse - HEADER_BYTES
    // KMIP 1.4 §6.7 Undo: the batch's writes are held and committed only if every item succeeds.
    const overlay =
      onError === BatchErrorContinuationOption.Undo ? new StoreOverlay(deps.store) : undefined
    const ctx: OpContext = {
      store: overlay ?? deps.store,
      barrier: deps.barrier,
      identity,
      major,
      minor,
      now: deps.now ?? (() => BigInt(Math.floor(Date.now() / 1000))),
      placeholder: undefined,
      runtime: deps.runtime,
      log: (message) => {
        if (deps.logRate?.take(identity) === false)
          throw new KmsError(
            'ERR_KMS_LOG_RATE',
            'this identity sent too many Log messages (100 per 10 s); this one was not logged: send it later',
          )
        deps.logger.info({ identity, requestId, kmipLog: message }, 'KMIP Log operation')
      },
    }
    const out: AnswerItem[] = []
    // Under Undo, successes are answered and audited once the batch's outcome is known.
    const held: Held[] = []
    const undoHeld = (): void => {
      overlay?.discard()
      for (const h of held.splice(0)) {
        out[h.at] = undoneItem(h)
        deps.audit.record({ ...h.audit, status: 'undone', reason: 'OperationUndone' })
      }
    }
    let stopped = false
    let slice = 0 // when this run of items started (the first item's start)
    for (const [i, item] of items.entries()) {
      // A long batch gives the event loop back between items (issue 10): 1,000 costly items
      // (signatures, large Locates) would otherwise hold every other client until the last one.
      if (i > 0 && performance.now() - slice > BATCH_SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve))
        slice = performance.now()
      }
      const started = performance.now()
      if (i === 0) slice = started
      let opCode: number | undefined
      let batchId: Uint8Array | undefined
      let objectId: string | undefined
      try {
        const received = decodeStructure(ReceivedBatchItem, item, v)
        opCode = received.operation
        batchId = received.uniqueBatchItemId
        if (items.length > 1 && batchId === undefined)
          throw new KmsError(
            'ERR_KMS_INVALID_MESSAGE',
            'Unique Batch Item ID is required in a batch of several items',
          )
        if (opCode === undefined)
          throw new KmsError('ERR_KMS_INVALID_MESSAGE', 'batch item without Operation')
        if (stopped)
          throw new KmsError(
            'ERR_KMS_BATCH_STOPPED',
            `not processed: an earlier batch item failed and the Batch Error Continuation Option is ${overlay !== undefined ? 'Undo' : 'Stop'}`,
          )
        const op = deps.runtime.operations.get(opCode)
        if (
          op === undefined ||
          (op.since !== undefined &&
            (major < op.since[0] || (major === op.since[0] && minor < op.since[1])))
        )
          throw new KmsError(
            'ERR_KMS_OPERATION',
            `operation ${opCode} is not supported in KMIP ${major}.${minor}`,
          )
        const payload = received.payload
        const target = op.mutates === true ? lockTarget(ctx, payload) : undefined
        const r =
          target === undefined
            ? await op.run(ctx, payload)
            : await deps.runtime.locks.run(target, () => op.run(ctx, payload))
        if (room !== Infinity) {
          room -= ttlvSize(r.payload) + ITEM_BYTES
          if (room < 0)
            throw new KmsError(
              'ERR_KMS_RESPONSE_TOO_LARGE',
              `the response would exceed ${maxResponse} bytes (the server's largest message, or the request's Maximum Response Size); ask for less per request`,
            )
        }
        objectId = r.objectId
        if (r.objectId !== undefined) ctx.placeholder = r.objectId
        out.push({
          operation: opCode,
          uniqueBatchItemId: batchId,
          resultStatus: ResultStatus.Success,
          payload: r.payload,
        })
        const audit = {
          identity,
          operation: opName(opCode),
          objectId,
          status: 'success',
          requestId: `${requestId}/${i}`,
          durationMs: performance.now() - started,
        } as const
        if (overlay !== undefined)
          held.push({ at: out.length - 1, opCode, batchId, payload: r.payload, audit })
        else deps.audit.record(audit)
      } catch (e) {
        const ke = toKmsError(e, deps.logger, requestId)
        if (ke.code === 'ERR_KMS_INVALID_MESSAGE' && opCode === undefined && items.length === 1)
          throw ke
        if (onError !== BatchErrorContinuationOption.Continue) stopped = true
        if (overlay !== undefined) undoHeld()
        room -= FAILED_ITEM_BYTES
        out.push(failedItem(major, opCode, batchId, ke, requestId))
        deps.audit.record({
          identity,
          operation: opCode !== undefined ? opName(opCode) : 'unknown',
          objectId: objectId ?? ke.objectId,
          status: 'failed',
          reason: ke.auditReason ?? resultReasonOf(ke.code, major),
          requestId: `${requestId}/${i}`,
          durationMs: performance.now() - started,
        })
      }
    }
    if (overlay !== undefined && held.length > 0) {
      try {
        await overlay.commit()
        for (const h of held) deps.audit.record(h.audit)
      } catch (e) {
        // Nothing of the batch's objects was written: the last item reports the failed commit,
        // the ones before it are undone, as if that item had failed.
        deps.logger.error({ err: e, requestId }, 'commit of an Undo batch failed')
        const last = held.pop()!
        const ke = new KmsError(
          'ERR_KMS_BATCH_COMMIT',
          'the batch could not be committed and was undone (none of its writes were kept); retry it',
        )
        out[last.at] = failedItem(major, last.opCode, last.batchId, ke, requestId)
        undoHeld()
        deps.audit.record({
          ...last.audit,
          status: 'failed',
          reason: resultReasonOf(ke.code, major),
        })
      }
    }
    return responseMessage(v, out)
  } catch (e) {
    const ke = toKmsError(e, deps.logger, requestId)
    deps.audit.record({
      identity,
      operation: 'message',
      status: 'failed',
      reason: resultReasonOf(ke.code, v.major),
      requestId,
      durationMs: 0,
    })
    return errorResponse(v, ke, requestId)
  }
}

/**
 * The object a mutating item acts on (its Unique Identifier, else the batch's ID placeholder), or
 * undefined when there is none (the operation then fails on its own, without a lock).
 */
function lockTarget(ctx: OpContext, payload: TtlvItem | undefined): string | undefined {
  // read before the operation decodes its payload: a Unique Identifier of another type locks nothing
  const id = find(payload, Tag.UniqueIdentifier)
  return id?.type === 'TextString' ? id.value : id === undefined ? ctx.placeholder : undefined
}

/**
 * A batch item answered Operation Failed: the Result Reason of its code in the request's major
 * version, the message carrying the code and the request id.
 */
function failedItem(
  major: number,
  opCode: number | undefined,
  batchId: Uint8Array | undefined,
  ke: KmsError,
  requestId: string,
): AnswerItem {
  return {
    operation: opCode,
    uniqueBatchItemId: batchId,
    resultStatus: ResultStatus.OperationFailed,
    resultReason: ResultReason[resultReasonOf(ke.code, major)],
    resultMessage: peerMessage(ke, requestId),
  }
}

/** A successful item of an Undo batch, waiting for the batch's outcome. */
interface Held {
  /** Its index in the response. */
  readonly at: number
  readonly opCode: number
  readonly batchId: Uint8Array | undefined
  readonly payload: TtlvItem | undefined
  readonly audit: AuditRecord
}

/** What an undone item's payload keeps: which objects it was about, none of its output. */
const UNDONE_KEEPS = new Set<number>([
  Tag.UniqueIdentifier,
  Tag.ObjectType,
  Tag.PrivateKeyUniqueIdentifier,
  Tag.PublicKeyUniqueIdentifier,
])

/**
 * An item answered Operation Undone (KMIP 1.4 §6.7, §9.1.3.2.28; 2.1 §8). Its payload keeps only
 * the identifiers, as in the OASIS BL-M-2 test case: the output of an operation that did not
 * happen (key material of a Get, ciphertext, signatures or MACs whose Usage Limits count-down is
 * undone, RNG output, attributes) does not leave the server, and an undone Get leaves Fresh true.
 */
function undoneItem(h: Held): AnswerItem {
  const kept =
    h.payload?.type === 'Structure'
      ? h.payload.value.filter((c) => UNDONE_KEEPS.has(c.tag))
      : undefined
  return {
    operation: h.opCode,
    uniqueBatchItemId: h.batchId,
    resultStatus: ResultStatus.OperationUndone,
    payload:
      kept !== undefined && kept.length > 0
        ? { tag: Tag.ResponsePayload, type: 'Structure', value: kept }
        : undefined,
  }
}

/**
 * Codec and field errors of @ward/kmip become the server's codes: malformed TTLV is Invalid Message,
 * a missing field Missing Data, a field of the wrong type or value Invalid Field (the reasons the
 * KMIP spec gives for them, 1.4 §11 and 2.1 §12).
 */
function fromKmipError(e: KmipError): KmsError {
  if (e.code.startsWith('ERR_TTLV_') && e.code !== 'ERR_TTLV_ENCODE') {
    return new KmsError('ERR_KMS_TTLV_DECODE', e.message, { cause: e })
  }
  if (e.code === 'ERR_KMIP_MISSING_FIELD')
    return new KmsError('ERR_KMS_MISSING_DATA', e.message, { cause: e })
  if (
    e.code === 'ERR_KMIP_FIELD_TYPE' ||
    e.code === 'ERR_KMIP_INVALID_FIELD' ||
    e.code === 'ERR_KMIP_ENUM'
  )
    return new KmsError('ERR_KMS_INVALID_FIELD', e.message, { cause: e })
  // a feature of KMIP the codec does not implement (a named 1.x Template)
  if (e.code === 'ERR_KMIP_NOT_SUPPORTED')
    return new KmsError('ERR_KMS_NOT_SUPPORTED', e.message, { cause: e })
  return new KmsError('ERR_KMS_INTERNAL', `internal error ${e.code}`, { cause: e })
}

/**
 * Any failure as a KmsError. A private one's message is logged here, under the request id: the
 * peer gets only the code and the request id.
 */
function toKmsError(e: unknown, logger: Logger, requestId: string): KmsError {
  if (e instanceof KmsError || e instanceof KmipError) {
    const ke = e instanceof KmsError ? e : fromKmipError(e)
    if (!ke.expose) logger.warn({ err: ke, requestId }, 'request failed')
    return ke
  }
  if (isCodedError(e)) {
    logger.warn({ err: e, requestId }, 'request failed')
    return new KmsError('ERR_KMS_INTERNAL', `internal error ${e.code}`)
  }
  logger.error({ err: e, requestId }, 'unexpected error while processing a request')
  return new KmsError('ERR_KMS_INTERNAL', 'internal error (see the server log)')
}
