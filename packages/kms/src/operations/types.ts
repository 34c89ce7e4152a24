import type { OpContext } from '../model/object.js'
import type { TtlvItem } from '@ward/kmip'

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
  run(ctx: OpContext, payload: TtlvItem | undefined): Promise<OpResult>
}

export const defineOperation = (d: OperationDef): OperationDef => d
