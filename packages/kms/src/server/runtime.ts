/**
 * Everything one server holds while it runs, besides its store, barrier and sockets: streaming
 * cipher contexts, object locks, the random pool, the object id generator, key generation slots
 * and the operation table it serves. Created by startKmsServer, reached by operations through
 * their context (`ctx.runtime`), released by `close()`. No module of the package keeps mutable
 * state of its own, so two servers in one process share nothing, and a closed server leaves no
 * timer or handle behind.
 */
import { KeygenSlots } from '../crypto/keygen-slots.js'
import { RandomPool } from '../crypto/random.js'
import { StreamRegistry } from '../crypto/streams.js'
import { ObjectIds } from '../model/id.js'
import { ObjectLocks } from '../model/object-lock.js'
import type { LockAcross } from '../model/object-lock.js'
import type { OperationDef } from '../operations/types.js'

export interface KmsRuntime {
  /** Streaming Encrypt/Decrypt contexts (Correlation Value → cipher state). */
  readonly streams: StreamRegistry
  /** Per-object locks of mutating operations (model/object-lock.ts). */
  readonly locks: ObjectLocks
  readonly random: RandomPool
  readonly ids: ObjectIds
  readonly keygen: KeygenSlots
  /** The operations this server answers, by KMIP Operation code (Query advertises them). */
  readonly operations: ReadonlyMap<number, OperationDef>
  /** Stop the stream sweep, drop every stream, zero the random pool. */
  close(): void
}

export interface RuntimeOptions {
  readonly operations: ReadonlyMap<number, OperationDef>
  /** Most streams one identity may hold open (default 64). */
  readonly maxStreamsPerClient?: number
  /** The store's lock shared with other servers on the same database (Store.exclusive). */
  readonly lockAcross?: LockAcross
  /** Start the stream registry's sweep timer (default true; unit tests may sweep by hand). */
  readonly sweep?: boolean
}

export function createRuntime(o: RuntimeOptions): KmsRuntime {
  const streams = new StreamRegistry(
    o.maxStreamsPerClient !== undefined ? { maxPerOwner: o.maxStreamsPerClient } : {},
  )
  if (o.sweep !== false) streams.start()
  const random = new RandomPool()
  return {
    streams,
    locks: new ObjectLocks(o.lockAcross),
    random,
    ids: new ObjectIds(random.bytes),
    keygen: new KeygenSlots(),
    operations: o.operations,
    close() {
      streams.close()
      random.dispose()
    },
  }
}
