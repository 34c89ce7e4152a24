/**
 * The task runner: executes the unfinished task rows (tasks/store.ts), oldest first, one at a
 * time per inventory object. A task the center was running when it stopped (a crash, kill -9, a
 * restart) is still `running` in its row and is run again at the next start: its executor
 * resumes from the steps saved in its params, and the host operations it drives are resumable
 * (vm.encrypt / vm.decrypt / vm.recrypt --deep continue from their journals). A host that does
 * not answer (restarting, unreachable) is retried with a growing delay until it is back, up to
 * `giveUpMs`. Only the leader runs tasks (`isLeader`, the HA lease; always true by default, as
 * with SQLite one center owns its database).
 */
import type { Logger } from '@ward/core'
import { CenterError } from '../errors.js'
import type { TasksTable } from '../store/schema.js'
import type { TaskError, TaskStore } from './store.js'

/** What an executor sees of its task. */
export interface TaskContext {
  readonly id: string
  readonly kind: string
  readonly object: string
  readonly host: string | null
  readonly user: string
  /** 1 on the first run, more on a resume or a retry. */
  readonly attempt: number
  /** The inputs and the steps done so far (ids only). */
  readonly params: Readonly<Record<string, unknown>>
  /** Persist a step: merged into params before the next step runs. */
  save(patch: Readonly<Record<string, unknown>>): Promise<void>
  /** Progress (bytes done of total, from the host); written to the row, throttled. */
  progress(done: number, total: number): void
}

/** Runs one kind of task; its result (JSON, no secrets) goes in the row. */
export type Executor = (t: TaskContext) => Promise<unknown>

export const TaskRunnerDefaults = {
  /** How often the rows are looked at (a new task is also started at once, `kick`). */
  pollMs: 1000,
  /** First delay before retrying a task whose host did not answer; doubles up to maxRetryMs. */
  retryMs: 1000,
  maxRetryMs: 30_000,
  /** A task whose host stays unreachable this long fails with the host's error. */
  giveUpMs: 3_600_000,
  /** Least time between two progress writes of one task. */
  progressMs: 250,
} as const

export interface TaskRunnerOptions {
  readonly store: TaskStore
  readonly executors: Readonly<Record<string, Executor>>
  readonly logger: Logger
  /** Only the leader runs tasks (HA on PostgreSQL); default: always. */
  readonly isLeader?: () => boolean
  /** Called with a callback to run when this center becomes the leader. */
  readonly onLeader?: (cb: () => void) => void
  readonly pollMs?: number
  readonly retryMs?: number
  readonly maxRetryMs?: number
  readonly giveUpMs?: number
}

/** Errors that mean "the host is not there now": the task waits and tries again. */
const TRANSIENT = new Set(['ERR_CENTER_HOST_UNREACHABLE', 'ERR_CENTER_HOST_TIMEOUT'])

export function isTransient(e: unknown): boolean {
  return e instanceof CenterError && TRANSIENT.has(e.code)
}

/** A task's error as stored: the code and message, the host's code; nothing else. */
export function taskError(e: unknown): TaskError {
  if (e instanceof CenterError) {
    const hostCode = e.details.hostCode
    return {
      code: e.code,
      message: e.message,
      ...(typeof hostCode === 'string' ? { hostCode } : {}),
    }
  }
  const code = (e as { code?: unknown }).code
  if (typeof code === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(code))
    return { code, message: (e as Error).message }
  return {
    code: 'ERR_CENTER_INTERNAL',
    message: "the task failed unexpectedly; the center's log has the details",
  }
}

export class TaskRunner {
  readonly #o: TaskRunnerOptions
  readonly #active = new Map<string, Promise<void>>()
  readonly #activeObjects = new Set<string>()
  /** task id → not before (ms), and the current delay. */
  readonly #backoff = new Map<string, { at: number; delay: number }>()
  #timer: NodeJS.Timeout | undefined
  #ticking = false
  #again = false
  #closed = false

  constructor(o: TaskRunnerOptions) {
    this.#o = o
  }

  /** Start looking at the rows (and resume the tasks that were running). */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return
    this.#timer = setInterval(() => this.kick(), this.#o.pollMs ?? TaskRunnerDefaults.pollMs)
    this.#timer.unref()
    this.#o.onLeader?.(() => this.kick())
    this.kick()
  }

  /** Look at the rows now (a task was just queued); nothing before `start`. */
  kick(): void {
    if (this.#closed || this.#timer === undefined) return
    if (this.#ticking) {
      this.#again = true
      return
    }
    this.#ticking = true
    void this.#tick()
      .catch((e: unknown) =>
        this.#o.logger.error({ code: taskError(e).code }, 'task runner: reading the tasks failed'),
      )
      .finally(() => {
        this.#ticking = false
        if (this.#again) {
          this.#again = false
          this.kick()
        }
      })
  }

  /** The tasks running in this process now. */
  get running(): readonly string[] {
    return [...this.#active.keys()]
  }

  /** Wait until no task runs in this process (tests). */
  async idle(): Promise<void> {
    while (this.#active.size > 0) await Promise.allSettled([...this.#active.values()])
  }

  /**
   * Stop: no new task starts. Tasks running now are left running in their rows (the next
   * start resumes them); their outcome is not written after close.
   */
  close(): void {
    this.#closed = true
    clearInterval(this.#timer)
  }

  async #tick(): Promise<void> {
    if (this.#closed || !(this.#o.isLeader?.() ?? true)) return
    const now = Date.now()
    const seen = new Set<string>()
    for (const row of await this.#o.store.pending()) {
      // one task at a time per object, the oldest first
      if (seen.has(row.object)) continue
      seen.add(row.object)
      if (this.#active.has(row.id) || this.#activeObjects.has(row.object)) continue
      const b = this.#backoff.get(row.id)
      if (b !== undefined && b.at > now) continue
      if (this.#closed) return
      const p = this.#run(row).finally(() => {
        this.#active.delete(row.id)
        this.#activeObjects.delete(row.object)
      })
      this.#active.set(row.id, p)
      this.#activeObjects.add(row.object)
    }
  }

  async #run(row: TasksTable): Promise<void> {
    const { store, logger } = this.#o
    const log = logger.child({ task: row.id, kind: row.kind, object: row.object })
    const exec = this.#o.executors[row.kind]
    if (exec === undefined) {
      await store.fail(row.id, {
        code: 'ERR_CENTER_TASK_KIND',
        message: `this center does not know tasks of kind ${row.kind}; run a center of the version that created it`,
      })
      return
    }
    await store.start(row.id)
    let params = JSON.parse(row.params) as Record<string, unknown>
    let last = 0
    let writes: Promise<void> = Promise.resolve()
    let pendingProgress: { done: number; total: number } | undefined
    const flush = (): void => {
      const p = pendingProgress
      if (p === undefined) return
      pendingProgress = undefined
      last = Date.now()
      writes = writes.then(() => store.progress(row.id, p.done, p.total)).catch(() => undefined)
    }
    const ctx: TaskContext = {
      id: row.id,
      kind: row.kind,
      object: row.object,
      host: row.host,
      user: row.created_by,
      attempt: row.attempts + 1,
      get params() {
        return params
      },
      save: async (patch) => {
        params = { ...params, ...patch }
        await store.save(row.id, params)
      },
      progress: (done, total) => {
        pendingProgress = { done, total }
        if (Date.now() - last >= TaskRunnerDefaults.progressMs) flush()
      },
    }
    log.info({ attempt: ctx.attempt }, 'task started')
    try {
      const result = await exec(ctx)
      flush()
      await writes
      if (this.#closed) return
      this.#backoff.delete(row.id)
      await store.finish(row.id, result)
      log.info('task done')
    } catch (e) {
      flush()
      await writes
      if (this.#closed) return
      const err = taskError(e)
      const started = row.started_at === null ? Date.now() : Number(row.started_at)
      if (
        isTransient(e) &&
        Date.now() - started < (this.#o.giveUpMs ?? TaskRunnerDefaults.giveUpMs)
      ) {
        const prev = this.#backoff.get(row.id)?.delay
        const delay =
          prev === undefined
            ? (this.#o.retryMs ?? TaskRunnerDefaults.retryMs)
            : Math.min(prev * 2, this.#o.maxRetryMs ?? TaskRunnerDefaults.maxRetryMs)
        this.#backoff.set(row.id, { at: Date.now() + delay, delay })
        log.warn({ code: err.code, retryMs: delay }, 'task waits for its host')
        return
      }
      this.#backoff.delete(row.id)
      await store.fail(row.id, err)
      log.warn(
        { code: err.code, ...(err.hostCode ? { hostCode: err.hostCode } : {}) },
        'task failed',
      )
    }
  }
}
