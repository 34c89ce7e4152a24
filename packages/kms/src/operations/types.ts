import type { OpContext } from '../model/object.js'
import { decodeStructure, encodeStructure } from '@ward/kmip'
import type { PayloadInput, PayloadOf, StructField, TtlvItem } from '@ward/kmip'

export interface OpResult {
  readonly payload?: TtlvItem
  /** The object acted on (audit, and the batch's ID placeholder). */
  readonly objectId?: string
}

/** One KMIP operation: its wire code, grantable privilege name and handler. */
export interface OperationDef {
  /** KMIP 1.4 §9.1.3.2.27 Operation value. */
  readonly code: number
  /** Privilege / grant name (kebab-case of the operation), as used by `ward kms grant`. */
  readonly privilege: string
  /** Lowest protocol version that has the operation. */
  readonly since?: readonly [number, number]
  /**
   * Reads, changes and saves its target object: run under the object's lock (model/object-lock.ts)
   * so that concurrent changes to one object are not lost.
   */
  readonly mutates?: true
  /** Its payloads, as @ward/kmip declares them (src/operations/ there). */
  readonly request: StructField
  readonly response: StructField
  run(ctx: OpContext, payload: TtlvItem | undefined): Promise<OpResult>
}

/** What a handler answers: the response payload in its declared form, and the object acted on. */
export interface Answer<R extends StructField> {
  readonly payload: PayloadInput<R>
  readonly objectId?: string | undefined
}

/**
 * An operation from its declared payloads and a handler over their typed forms: the request is
 * decoded (in the request's version) before the handler runs, its answer encoded after.
 */
export function defineOperation<Q extends StructField, R extends StructField>(d: {
  readonly code: number
  readonly privilege: string
  readonly since?: readonly [number, number]
  readonly mutates?: true
  readonly request: Q
  readonly response: R
  handle(ctx: OpContext, request: PayloadOf<Q>): Promise<Answer<R>>
}): OperationDef {
  const { handle, ...def } = d
  return {
    ...def,
    async run(ctx, payload) {
      const answer = await handle(ctx, decodeStructure(d.request, payload, ctx))
      return {
        payload: encodeStructure(d.response, answer.payload, ctx),
        ...(answer.objectId !== undefined && { objectId: answer.objectId }),
      }
    },
  }
}
