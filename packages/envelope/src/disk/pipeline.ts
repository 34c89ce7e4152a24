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

/** Run the steps in order. Buffers are zeroed at the end (they held plaintext). */
export async function runPipeline(o: PipelineOptions): Promise<void> {
  const bufs = [0, 1, 2].map(() => new Uint8Array(o.maxLength))
  const view = (i: number): Uint8Array => {
    const s = o.steps[i] as Step
    return (bufs[i % 3] as Uint8Array).subarray(0, s.length)
  }
  let done = 0
  try {
    let reading: Promise<void> | undefined =
      o.steps.length > 0 ? readAt(o.fdIn, view(0), o.steps[0]?.readPos ?? 0) : undefined
    let writing: Promise<void> = Promise.resolve()
    for (let i = 0; i < o.steps.length; i++) {
      const step = o.steps[i] as Step
      const buf = view(i)
      await reading
      // buffer (i+1)%3 last served step i-2, whose write finished before step i-1's was issued
      const nextStep = o.steps[i + 1]
      reading = nextStep ? readAt(o.fdIn, view(i + 1), nextStep.readPos) : undefined
      // keep the prefetch from rejecting unobserved while this step runs
      reading?.catch(() => undefined)
      await o.transform(buf, step, i)
      await writing
      if (o.durable) {
        o.beforeWrite?.(buf, step, i)
        await writeAt(o.fdOut, buf, step.writePos)
        await sync(o.fdOut)
        o.afterWrite?.(step, i)
        writing = Promise.resolve()
      } else {
        writing = writeAt(o.fdOut, buf, step.writePos)
        writing.catch(() => undefined)
      }
      done += step.length
      o.onProgress?.(done)
    }
    await writing
    await reading
  } finally {
    for (const b of bufs) b.fill(0)
  }
}
