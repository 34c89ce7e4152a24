/** TypeBox schemas of the ha routes: leadership, events, alarms, host encryption mode. */
import { Type } from 'typebox'
import { alarmDefinitions } from '../alarms/definitions.js'
import { eventTypes } from '../events/types.js'
import { Time, closed } from './schemas.js'

export const LeaderStatus = Type.Object(
  {
    mode: Type.Union([Type.Literal('sqlite'), Type.Literal('lease')]),
    node: Type.String(),
    is_leader: Type.Boolean(),
    leader: Type.Union([Type.String(), Type.Null()]),
    leader_url: Type.Union([Type.String(), Type.Null()]),
    epoch: Type.Integer(),
    expires: Type.Union([Time, Type.Null()]),
  },
  closed,
)

export const Event = Type.Object(
  {
    id: Type.Integer(),
    time: Time,
    /** An event type of events/types.ts. */
    type: Type.String({ pattern: `^(${Object.keys(eventTypes).join('|')})$` }),
    severity: Type.String(),
    object: Type.String(),
    message: Type.String(),
    user: Type.String(),
  },
  closed,
)

/** An alarm definition id of alarms/definitions.ts. */
export const AlarmDefinitionName = Type.String({
  maxLength: 64,
  pattern: `^(${Object.keys(alarmDefinitions).join('|')})$`,
})
export const AlarmSubject = Type.String({ maxLength: 120, pattern: '^[A-Za-z0-9._:@-]*$' })

export const Alarm = Type.Object(
  {
    definition: Type.String(),
    name: Type.String(),
    object: Type.String(),
    subject: Type.String(),
    status: Type.Union([Type.Literal('green'), Type.Literal('yellow'), Type.Literal('red')]),
    message: Type.String(),
    first_raised: Time,
    last_raised: Time,
    cleared: Type.Union([Time, Type.Null()]),
    acknowledged: Type.Boolean(),
    acknowledged_time: Type.Union([Time, Type.Null()]),
    acknowledged_by: Type.Union([Type.String(), Type.Null()]),
  },
  closed,
)

/** A key provider id or KEK id as hosts take them (checkId on the host: 1-128 safe characters). */
export const KeyRefId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })

export const HostEncryptionMode = Type.Object(
  {
    host: Type.String(),
    crypto_state: Type.String(),
    /** True when the host could not be reached now: the leader applies it when the host answers. */
    pending: Type.Boolean(),
    host_key: Type.Object({ provider_id: Type.String(), key_id: Type.String() }, closed),
  },
  closed,
)
