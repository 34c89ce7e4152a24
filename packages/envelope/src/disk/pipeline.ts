import { read, write, fdatasync } from 'node:fs'
import { EnvelopeError } from '../errors.js'

/*
 * The data path: large segments, one positional read and one positional write syscall each, the
 * XTS work on libuv's pool (both cores), reading and transforming ahead of the writer. Durable
 * runs add a journal hook before each write and an fdatasync after it.
 */

/** One segment of work: `length` bytes read at `readPos` and written at `writePos`. */
export interface Step {
  readonly readPos: number
  readonly writePos: number
  readonly length: number
}

export interface PipelineOptions {
  /**
   * Read each step's bytes from this file into its buffer before the transform; undefined when
   * the transform fills the buffer itself (XTS from a mapped input: no read copy).
   */
  readonly fdIn: number | undefined
  readonly fdOut: number
  readonly steps: readonly Step[]
  readonly maxLength: number
  /** Transform the segment in place (encrypt, decrypt, re-encrypt). */
  readonly transform: (buf: Uint8Array, step: Step, index: number) => Promise<void>
  /** Durable mode: called before the write (journal), then the write is fdatasync'd and `afterWrite` runs. */
  readonly beforeWrite?: (buf: Uint8Array, step: Step, index: number) => void
  readonly afterWrite?: (step: Step, index: number) => void
  readonly durable: boolean
  readonly onProgress?: (bytes: number) => void
  /** Transforms running at once (default 1); each step still reaches the writer in order. */
  readonly transformsInFlight?: number
}

const readAt = (fd: number, buf: Uint8Array, pos: number): Promise<void> =>
  new Promise((resolve, reject) => {
    let done = 0
    const next = (): void =>
      read(fd, buf, done, buf.length - done, pos + done, (err, n) => {
        if (err) return reject(err)
        if (n === 0)
          return reject(new EnvelopeError('ERR_DISK_IO', `unexpected end of file at ${pos + done}`))
        done += n
        if (done < buf.length) next()
        else resolve()
      })
    next()
  })

const writeAt = (fd: number, buf: Uint8Array, pos: number): Promise<void> =>
  new Promise((resolve, reject) => {
    let done = 0
    const next = (): void =>
      write(fd, buf, done, buf.length - done, pos + done, (err, n) => {
        if (err) return reject(err)
        done += n
        if (done < buf.length) next()
        else resolve()
      })
    next()
  })

const sync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())))

/** Buffers a pipeline rotates: step i may be transformed while steps i-3..i-1 wait to be written. */
export const PIPELINE_BUFFERS = 4

interface Gate {
  readonly promise: Promise<void>
  open: () => void
  fail: (e: unknown) => void
}

function gate(): Gate {
  const { promise, resolve, reject }: PromiseWithResolvers<void> = Promise.withResolvers()
  promise.catch(() => undefined) // a failed gate is reported by the loop that failed it
  return { promise, open: () => resolve(), fail: reject }
}

/**
 * Run the steps: steps are read, then transformed, in order into {@link PIPELINE_BUFFERS}
 * reusable buffers while a writer writes them in order (and, when durable, syncs each write
 * before the next step's `beforeWrite`), so the cores and the storage work at once and the
 * writer, usually the slowest stage, never waits for a read. A buffer is reused only after the
 * write of the step it last held has finished; reads never touch a region a pending write
 * targets (callers' steps guarantee it: ascending same-place steps, or descending steps moved
 * up by at least their length). Buffers are zeroed at the end (they held plaintext).
 */
export async function runPipeline(o: PipelineOptions): Promise<void> {
  const n = o.steps.length
  const slots = Math.max(1, Math.min(PIPELINE_BUFFERS, n))
  const bufs = Array.from({ length: slots }, () => new Uint8Array(o.maxLength))
  const view = (i: number): Uint8Array =>
    (bufs[i % slots] as Uint8Array).subarray(0, (o.steps[i] as Step).length)
  const fetched = o.steps.map(gate)
  const ready = o.steps.map(gate)
  const written = o.steps.map(gate)
  let stopped = false
  const stop = (e: unknown): void => {
    stopped = true
    for (const gates of [fetched, ready, written]) for (const g of gates) g.fail(e)
  }
  // Three stages, each in step order: read, transform, write. Reading step i+1 while step i is
  // transformed keeps both cores busy when the transform, not the writer, is the slowest stage.
  const fetch = async (): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if (i >= slots) await (written[i - slots] as Gate).promise
      if (stopped) return
      if (o.fdIn !== undefined) await readAt(o.fdIn, view(i), (o.steps[i] as Step).readPos)
      ;(fetched[i] as Gate).open()
    }
  }
  let nextTransform = 0
  // Each transformer takes the next step; a failure stops everything at once (the writer would
  // otherwise wait for the failed step while the other transformer waits for a free buffer).
  const transformer = async (): Promise<void> => {
    for (let i = nextTransform++; i < n && !stopped; i = nextTransform++) {
      await (fetched[i] as Gate).promise
      await o.transform(view(i), o.steps[i] as Step, i).catch((e: unknown) => {
        stop(e)
        throw e
      })
      ;(ready[i] as Gate).open()
    }
  }
  const produce = async (): Promise<void> => {
    const k = Math.max(1, Math.min(o.transformsInFlight ?? 1, slots))
    const all = await Promise.allSettled(Array.from({ length: k }, transformer))
    const failed = all.find((r) => r.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
  }
  const consume = async (): Promise<void> => {
    let done = 0
    for (let i = 0; i < n; i++) {
      await (ready[i] as Gate).promise
      const step = o.steps[i] as Step
      o.beforeWrite?.(view(i), step, i)
      await writeAt(o.fdOut, view(i), step.writePos)
      if (o.durable) {
        await sync(o.fdOut)
        o.afterWrite?.(step, i)
      }
      ;(written[i] as Gate).open()
      done += step.length
      o.onProgress?.(done)
    }
  }
  // A failing stage stops the others; all settle before the buffers are wiped.
  const results = await Promise.allSettled([
    fetch().catch((e: unknown) => {
      stop(e)
      throw e
    }),
    produce().catch((e: unknown) => {
      stop(e)
      throw e
    }),
    consume().catch((e: unknown) => {
      stop(e)
      throw e
    }),
  ])
  for (const b of bufs) b.fill(0)
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}
