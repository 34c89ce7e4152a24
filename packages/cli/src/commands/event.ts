import { defineCommand, type Command } from '../command.js'
import { custom } from '../flags.js'
import { table } from '../output.js'
import { api, sessionFlag } from './center.js'

/* `ward event list`: the center's events (GET /api/ward/events), newest first. */

const objectFlag = {
  object: custom(
    'only events about this object (root, datacenter-1, host-3, vm-5, ...)',
    (v) => v,
    {
      value: 'ID',
    },
  ),
} as const

export const eventCommands: readonly Command[] = [
  defineCommand({
    path: ['event', 'list'],
    summary: 'Events of the center, newest first (on objects you may read)',
    example: 'ward event list --object host-3 --json',
    flags: {
      ...objectFlag,
      limit: custom('at most this many (1-1000, default 100)', (v) => v, { value: 'N' }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const evs = await api(values['session-file'], 'event.list', {
        query: {
          ...(values.object !== undefined ? { object: values.object } : {}),
          ...(values.limit !== undefined ? { limit: values.limit } : {}),
        },
      })
      out.data(evs, () =>
        table(
          ['time', 'severity', 'type', 'object', 'user', 'message'],
          evs.map((e) => [e.time, e.severity, e.type, e.object, e.user, e.message]),
        ),
      )
      return 0
    },
  }),
]
