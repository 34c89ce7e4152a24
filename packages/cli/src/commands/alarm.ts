import { defineCommand, type Command } from '../command.js'
import { custom } from '../flags.js'
import { table } from '../output.js'
import { CliError } from '../errors.js'
import { api, sessionFlag } from './center.js'

/* `ward alarm list|ack`: the center's triggered alarms (GET /api/ward/alarms, POST .../acknowledge). */

export const alarmCommands: readonly Command[] = [
  defineCommand({
    path: ['alarm', 'list'],
    summary: 'Triggered alarms (green once cleared), on objects you may read',
    example: 'ward alarm list --json',
    flags: {
      object: custom('only alarms on this object (root, host-3, vm-5, ...)', (v) => v, {
        value: 'ID',
      }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const as = await api(values['session-file'], 'alarm.list', {
        query: values.object !== undefined ? { object: values.object } : {},
      })
      out.data(as, () =>
        table(
          ['status', 'definition', 'object', 'subject', 'acknowledged', 'last raised', 'message'],
          as.map((a) => [
            a.status,
            a.definition,
            a.object,
            a.subject,
            a.acknowledged ? `by ${a.acknowledged_by ?? '?'}` : '',
            a.last_raised,
            a.message,
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['alarm', 'ack'],
    summary: 'Acknowledge a raised alarm (an NKP one is raised again after 24 h while it holds)',
    args: 'DEFINITION OBJECT [SUBJECT]',
    example: 'ward alarm ack RecoveryKeyNotBackedUp host-3',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const [definition, object, subject] = positionals
      if (definition === undefined || object === undefined)
        throw new CliError(
          'ERR_CLI_USAGE',
          'give DEFINITION and OBJECT as ward alarm list shows them (and SUBJECT when it has one)',
        )
      const a = await api(values['session-file'], 'alarm.acknowledge', {
        body: { definition, object, ...(subject !== undefined ? { subject } : {}) },
      })
      out.data(
        a,
        () => `acknowledged ${a.name} on ${a.object}${a.subject ? ` (${a.subject})` : ''}`,
      )
      return 0
    },
  }),
]
