import { read, write, fdatasync } from 'node:fs'
import { EnvelopeError } from '../errors.js'

/*
 * The data path: large segments, one read and one write syscall each, the XTS work on libuv's
 * pool (both cores), and the next segment read while the current one is transformed. Durable
 * runs add a journal hook before each write and an fdatasync after it.
 */

/** One segment of work: `length` bytes read at `readPos` and written at `writePos`. */
export interface Step {
  readonly readPos: number
  readonly writePos: number
  readonly length: number
}

export interface PipelineOptions {
  readonly fdIn: number
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

/**
 * Run the steps in order: step i+1 is read and transformed while step i is written (and, when
 * durable, synced), so the cores and the disk work at once. Three buffers rotate; a buffer is
 * reused only after the write of the step it last held has finished. Buffers are zeroed at the
 * end (they held plaintext).
 */
export async function runPipeline(o: PipelineOptions): Promise<void> {
  const bufs = [0, 1, 2].map(() => new Uint8Array(o.maxLength))
  const view = (i: number): Uint8Array => {
    const s = o.steps[i] as Step
    return (bufs[i % 3] as Uint8Array).subarray(0, s.length)
  }
  const prepare = async (i: number): Promise<void> => {
    const step = o.steps[i] as Step
    await readAt(o.fdIn, view(i), step.readPos)
    await o.transform(view(i), step, i)
  }
  const commit = async (i: number): Promise<void> => {
    const step = o.steps[i] as Step
    o.beforeWrite?.(view(i), step, i)
    await writeAt(o.fdOut, view(i), step.writePos)
    if (o.durable) {
      await sync(o.fdOut)
      o.afterWrite?.(step, i)
    }
  }
  let done = 0
  let prepared: Promise<void> | undefined
  let committed: Promise<void> = Promise.resolve()
  try {
    if (o.steps.length > 0) prepared = prepare(0)
    for (let i = 0; i < o.steps.length; i++) {
      await prepared
      await committed // step i-1 written: its buffer's predecessor (i-2) is free for step i+1
      prepared = i + 1 < o.steps.length ? prepare(i + 1) : undefined
      prepared?.catch(() => undefined) // observed at the next iteration
      committed = commit(i)
      committed.catch(() => undefined)
      if (i > 0) {
        done += (o.steps[i - 1] as Step).length
        o.onProgress?.(done)
      }
    }
    await committed
    const last = o.steps[o.steps.length - 1]
    if (last) o.onProgress?.(done + last.length)
  } finally {
    // let in-flight work settle before wiping the buffers it uses
    await Promise.allSettled([prepared, committed])
    for (const b of bufs) b.fill(0)
  }
}
