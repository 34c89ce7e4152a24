/**
 * Tasks as persistent rows (vSphere TaskInfo): what (kind, object, host), who started it, its
 * state (queued → running → success | error), its progress (the host's progress messages), its
 * result or coded error. The params column holds the task's inputs and the steps it has done
 * (ids only, never key bytes): a task resumed after a restart reads where it was.
 */
import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { CenterDb, TasksTable } from '../store/schema.js'

/** vSphere TaskInfo.State. */
export const TaskStates = ['queued', 'running', 'success', 'error'] as const
export type TaskState = (typeof TaskStates)[number]

/** The coded error of a failed task (no secrets: codes and messages only). */
export interface TaskError {
  readonly code: string
  readonly message: string
  /** The host's own code when the host refused. */
  readonly hostCode?: string
}

/** A task as the API shows it. */
export interface TaskView {
  readonly task: string
  readonly kind: string
  readonly object: string
  readonly host: string | null
  readonly state: TaskState
  /** Percent done, 0..100. */
  readonly progress: number
  readonly progress_done: number
  readonly progress_total: number
  readonly user: string
  readonly attempts: number
  readonly created: string
  readonly started: string | null
  readonly completed: string | null
  readonly error: TaskError | null
  readonly result: unknown
}

/** A task id's object: the id names it, so a route's access is decided from the id alone. */
export const taskObject = (id: string): string => id.slice(TASK_PREFIX_LENGTH)
const TASK_PREFIX_LENGTH = 'task-0123456789abcdef-'.length
/** The id pattern of tasks (route schemas). */
export const TASK_ID_PATTERN = '^task-[0-9a-f]{16}-(root|[a-z]+-c?[1-9][0-9]{0,14})$'

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

export function taskView(r: TasksTable): TaskView {
  return {
    task: r.id,
    kind: r.kind,
    object: r.object,
    host: r.host,
    state: r.state as TaskState,
    progress: r.progress,
    progress_done: Number(r.progress_done),
    progress_total: Number(r.progress_total),
    user: r.created_by,
    attempts: r.attempts,
    created: new Date(Number(r.created_at)).toISOString(),
    started: iso(r.started_at === null ? null : Number(r.started_at)),
    completed: iso(r.completed_at === null ? null : Number(r.completed_at)),
    error: r.error === null ? null : (JSON.parse(r.error) as TaskError),
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  }
}

/** The task rows. */
export class TaskStore {
  readonly #db: Kysely<CenterDb>
  constructor(db: Kysely<CenterDb>) {
    this.#db = db
  }

  /** A new queued task; its id: `task-` + 16 hex + `-` + its object (see {@link taskObject}). */
  async create(t: {
    readonly kind: string
    readonly object: string
    readonly host: string | null
    readonly user: string
    readonly params: Readonly<Record<string, unknown>>
  }): Promise<string> {
    const id = `task-${randomBytes(8).toString('hex')}-${t.object}`
    const now = Date.now()
    await this.#db
      .insertInto('tasks')
      .values({
        id,
        kind: t.kind,
        object: t.object,
        host: t.host,
        state: 'queued',
        progress: 0,
        progress_done: 0,
        progress_total: 0,
        attempts: 0,
        created_by: t.user,
        created_at: now,
        updated_at: now,
        started_at: null,
        completed_at: null,
        error: null,
        result: null,
        params: JSON.stringify(t.params),
      })
      .execute()
    return id
  }

  get(id: string): Promise<TasksTable | undefined> {
    return this.#db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst()
  }

  list(o: { readonly object?: string; readonly limit?: number } = {}): Promise<TasksTable[]> {
    let q = this.#db.selectFrom('tasks').selectAll()
    if (o.object !== undefined) q = q.where('object', '=', o.object)
    return q
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(o.limit ?? 1000)
      .execute()
  }

  /** Tasks not finished, oldest first (the runner's work). */
  pending(): Promise<TasksTable[]> {
    return this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('state', 'in', ['queued', 'running'])
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  /** Is a task other than `except` unfinished on `object`? */
  async busy(object: string, except?: string): Promise<string | undefined> {
    let q = this.#db
      .selectFrom('tasks')
      .select('id')
      .where('object', '=', object)
      .where('state', 'in', ['queued', 'running'])
    if (except !== undefined) q = q.where('id', '!=', except)
    return (await q.executeTakeFirst())?.id
  }

  async start(id: string): Promise<void> {
    const now = Date.now()
    await this.#db
      .updateTable('tasks')
      .set((eb) => ({
        state: 'running',
        attempts: eb('attempts', '+', 1),
        updated_at: now,
        started_at: eb.fn.coalesce('started_at', eb.val(now)),
      }))
      .where('id', '=', id)
      .execute()
  }

  async progress(id: string, done: number, total: number): Promise<void> {
    const pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 0
    await this.#db
      .updateTable('tasks')
      .set({ progress: pct, progress_done: done, progress_total: total, updated_at: Date.now() })
      .where('id', '=', id)
      .execute()
  }

  /** Merge `patch` into the task's params (a step done, an id chosen). */
  async save(id: string, params: Readonly<Record<string, unknown>>): Promise<void> {
    await this.#db
      .updateTable('tasks')
      .set({ params: JSON.stringify(params), updated_at: Date.now() })
      .where('id', '=', id)
      .execute()
  }

  async finish(id: string, result: unknown): Promise<void> {
    const now = Date.now()
    await this.#db
      .updateTable('tasks')
      .set({
        state: 'success',
        progress: 100,
        result: JSON.stringify(result ?? null),
        error: null,
        updated_at: now,
        completed_at: now,
      })
      .where('id', '=', id)
      .execute()
  }

  async fail(id: string, error: TaskError): Promise<void> {
    const now = Date.now()
    await this.#db
      .updateTable('tasks')
      .set({ state: 'error', error: JSON.stringify(error), updated_at: now, completed_at: now })
      .where('id', '=', id)
      .execute()
  }
}
