import { setTimeout as sleep } from 'node:timers/promises'
import { defineCommand, type Command } from '../command.js'
import { text } from '../flags.js'
import { table, type Output } from '../output.js'
import { CliError } from '../errors.js'
import { api, sessionFlag } from './center.js'

type TaskView = Awaited<ReturnType<typeof api<'task.get'>>>

/*
 * `ward task list|get|watch`: the center's task rows (VM encryption tasks run by the hosts), and
 * a progress bar that follows one until it ends (JSON lines with --json).
 */

/** How often `watch` reads the task. */
const WATCH_MS = 250

const finished = (v: TaskView): boolean => v.state === 'success' || v.state === 'error'

const line = (v: TaskView): string =>
  `${v.task}  ${v.kind}  ${v.object}  ${v.state}${v.state === 'running' ? ` ${v.progress}%` : ''}${v.error !== null ? `  ${v.error.code}: ${v.error.message}` : ''}`

/**
 * Follow task `id` until it ends: a progress bar (stderr) from the host's progress, or with
 * --json one JSON line per change on stdout; the last line is the task. Exit 1 when it failed.
 */
export async function watchTask(session: string, id: string, out: Output): Promise<number> {
  let last = ''
  let bar: ReturnType<Output['progress']> | undefined
  for (;;) {
    const v = await api(session, 'task.get', { params: { task: id } })
    const key = `${v.state}/${v.progress_done}/${v.progress_total}`
    if (key !== last) {
      last = key
      if (out.json && !finished(v))
        out.data({
          task: v.task,
          state: v.state,
          progress: v.progress,
          done: v.progress_done,
          total: v.progress_total,
        })
      else if (!out.json && v.progress_total > 0) {
        bar ??= out.progress(`${v.kind} ${v.object}`, v.progress_total)
        bar.update(v.progress_done)
      }
    }
    if (finished(v)) {
      if (v.state === 'success') bar?.done()
      out.data(v, () => line(v))
      return v.state === 'success' ? 0 : 1
    }
    await sleep(WATCH_MS)
  }
}

export const taskCommands: readonly Command[] = [
  defineCommand({
    path: ['task', 'list'],
    summary: 'Tasks on the objects you may see, newest first',
    example: 'ward task list --object vm-12 --json',
    flags: { object: text('only the tasks of this object', { value: 'ID' }), ...sessionFlag },
    async run({ values, out }) {
      const ts = await api(values['session-file'], 'task.list', {
        query: values.object !== undefined ? { object: values.object } : {},
      })
      out.data(ts, () =>
        table(
          ['task', 'kind', 'object', 'state', 'progress', 'user', 'error'],
          ts.map((v) => [
            v.task,
            v.kind,
            v.object,
            v.state,
            `${v.progress}%`,
            v.user,
            v.error?.code ?? '',
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['task', 'get'],
    summary: 'One task: state, progress, result or error',
    args: 'TASK',
    example: 'ward task get task-0123456789abcdef-vm-12 --json',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const id = positionals[0]
      if (id === undefined) throw new CliError('ERR_CLI_USAGE', 'TASK (a task id) is required')
      const v = await api(values['session-file'], 'task.get', { params: { task: id } })
      out.data(v, () => line(v))
      return 0
    },
  }),
  defineCommand({
    path: ['task', 'watch'],
    summary:
      'Follow a task until it ends: a progress bar, or JSON lines with --json (exit 1 if it failed)',
    args: 'TASK',
    example: 'ward task watch task-0123456789abcdef-vm-12',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const id = positionals[0]
      if (id === undefined) throw new CliError('ERR_CLI_USAGE', 'TASK (a task id) is required')
      return watchTask(values['session-file'], id, out)
    },
  }),
]
