// The kms error table drives the answer to a failed request: the dispatcher derives the Result
// Reason from the code and the request's major version (kmsErrors' v1/v2), and a private code's
// message never reaches the peer (it is logged under the request id instead).
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { Secret, createLogger } from '@ward/core'
import {
  KmipError,
  Operation,
  ResultReason,
  ResultStatus,
  Tag,
  decodeTtlv,
  enumeration,
  encodeTtlv,
  int,
  structure,
  text,
} from '@ward/kmip'
import { Barrier } from '../../src/barrier/barrier.js'
import { KmsError, kmsErrors, type KmsErrorCode } from '../../src/errors.js'
import type { AuditRecord } from '../../src/server/audit.js'
import { operations } from '../../src/operations/registry.js'
import { handleMessage } from '../../src/server/dispatch.js'
import { createRuntime } from '../../src/server/runtime.js'
import type { Store } from '../../src/storage/store.js'
import { parseResponse } from '../../src/testing.js'

/** A text that must not leave the server when the error carrying it is private. */
const MARK = 'sealed-row-7f3a-of-tenant-b-with-master.key-hint'

/** A store every method of which fails with `fail()`. */
const failingStore = (fail: () => Error): Store =>
  new Proxy({} as Store, {
    get: (_t, name) => (name === 'then' ? undefined : () => Promise.reject(fail())),
  })

interface Answer {
  readonly status: number
  readonly reason: number | undefined
  readonly message: string
  readonly logs: string
  readonly audit: readonly AuditRecord[]
}

/** A one-item Get in KMIP `major`.x against a store that throws `fail()`. */
async function getFailing(major: number, fail: () => Error): Promise<Answer> {
  const lines: string[] = []
  const audit: AuditRecord[] = []
  const barrier = new Barrier(new Secret(randomBytes(32)))
  const runtime = createRuntime({ operations })
  const req = structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [
        int(Tag.ProtocolVersionMajor, major),
        int(Tag.ProtocolVersionMinor, major === 2 ? 1 : 4),
      ]),
      int(Tag.BatchCount, 1),
    ]),
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, Operation.Get),
      structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, 'some-id')]),
    ]),
  ])
  const res = await handleMessage(
    {
      store: failingStore(fail),
      barrier,
      runtime,
      logger: createLogger('kms', {
        level: 'info',
        destination: new Writable({
          write: (c: Buffer, _e, cb) => {
            lines.push(c.toString())
            cb()
          },
        }) as never,
      }),
      audit: { record: (r) => audit.push(r), flush: () => undefined, close: async () => undefined },
    },
    'alice',
    encodeTtlv(req),
  )
  barrier.dispose()
  runtime.close()
  const [item] = parseResponse(decodeTtlv(res))
  assert.ok(item !== undefined)
  return {
    status: item.status,
    reason: item.reason,
    message: item.message ?? '',
    logs: lines.join(''),
    audit,
  }
}

const requestId = (message: string): string => {
  const m = /request ([0-9a-f-]{36})\]$/.exec(message)
  assert.ok(m !== null, `no request id in ${message}`)
  return m[1]!
}

test('every kms code is answered with its table row: Result Reason per version, message only if public', async () => {
  const codes = Object.keys(kmsErrors) as KmsErrorCode[]
  assert.ok(codes.length > 40)
  for (const code of codes)
    for (const major of [1, 2]) {
      const row = kmsErrors[code]
      const a = await getFailing(major, () => new KmsError(code, `${code}: ${MARK}`))
      const want = major >= 2 ? row.v2 : row.v1
      assert.equal(a.status, ResultStatus.OperationFailed, code)
      assert.equal(a.reason, ResultReason[want], `${code} in ${major}.x: ${want}`)
      assert.equal(a.audit[0]?.reason, want, code)
      assert.ok(a.message.includes(`[${code}, request `), a.message)
      const id = requestId(a.message)
      if (row.peer === 'public') assert.ok(a.message.includes(MARK), `${code}: ${a.message}`)
      else {
        assert.ok(!a.message.includes(MARK), `${code} is private but its message reached the peer`)
        // the operator still finds it, under the request id the peer was given
        const logged = a.logs.split('\n').find((l) => l.includes(id))
        assert.ok(logged?.includes(MARK), `${code}: not logged under request ${id}`)
      }
    }
})

test('private codes exist, and the failures that are not KmsErrors are answered as private ones', async () => {
  assert.ok((Object.keys(kmsErrors) as KmsErrorCode[]).some((c) => kmsErrors[c].peer === 'private'))
  assert.equal(kmsErrors.ERR_KMS_INTERNAL.peer, 'private')
  assert.equal(kmsErrors.ERR_KMS_BARRIER.peer, 'private')
  const failures: (() => Error)[] = [
    () => new Error(MARK),
    () => Object.assign(new Error(MARK), { code: 'ERR_SOMETHING_ELSE' }),
    () => new KmipError('ERR_TTLV_ENCODE', MARK),
    () => new KmipError('ERR_KMIP_TLS_CONFIG', MARK),
  ]
  for (const fail of failures)
    for (const major of [1, 2]) {
      const a = await getFailing(major, fail)
      assert.equal(a.reason, ResultReason.GeneralFailure)
      assert.match(a.message, /\[ERR_KMS_INTERNAL, request /)
      assert.ok(!a.message.includes(MARK), a.message)
    }
})

test('a public code keeps its message and reason; a version-dependent one differs by version', async () => {
  const v1 = await getFailing(1, () => new KmsError('ERR_KMS_NOT_FOUND', 'object x not found'))
  const v2 = await getFailing(2, () => new KmsError('ERR_KMS_NOT_FOUND', 'object x not found'))
  assert.equal(v1.reason, ResultReason.ItemNotFound)
  assert.equal(v2.reason, ResultReason.ObjectNotFound)
  assert.match(v1.message, /^object x not found \[ERR_KMS_NOT_FOUND, request /)
})

test('a code that is not in the table does not compile', () => {
  // Checked by the build: @ts-expect-error fails it if the line compiles. Never run: the
  // constructor looks its code up in the table.
  const typo = (): KmsError =>
    // @ts-expect-error: ERR_KMS_NOT_FOUNDD is not a row of kmsErrors
    new KmsError('ERR_KMS_NOT_FOUNDD', 'x')
  assert.equal(typeof typo, 'function')
  assert.equal(Object.hasOwn(kmsErrors, 'ERR_KMS_NOT_FOUNDD'), false)
})
