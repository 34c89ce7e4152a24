/**
 * Alarms and events: raise / clear / acknowledge through the store and the routes, each change an
 * event with its type's text; the NKP alarm raised again 24 h after an acknowledgement while its
 * condition holds (an injected clock), the others not; the center's certificates checked for
 * expiry; events append-only and listed on objects the caller may read. SQLite and PostgreSQL.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { alarmDefinitions } from '../../src/alarms/definitions.js'
import { eventTypes } from '../../src/events/types.js'
import { checkCertificate } from '../../src/monitor/monitor.js'
import { startTestCenter } from '../helpers.js'

const HOUR = 3_600_000

for (const pg of [false, true])
  test(`alarms and events (${pg ? 'PostgreSQL' : 'SQLite'})`, async () => {
    let clock = Date.parse('2026-12-03T12:00:00Z')
    const t = await startTestCenter({ pg, options: { now: () => clock } })
    try {
      const { alarms, events } = t.center
      const admin = await t.login()
      const nkp = { definition: 'NkpNotBackedUp', object: 'root', subject: 'nkp-1' } as const
      assert.equal(await alarms.raise(nkp, 'Native key provider nkp-1 is not backed up'), true)
      // raising a raised alarm changes nothing but its message
      assert.equal(await alarms.raise(nkp, 'Native key provider nkp-1 is not backed up'), false)
      let a = (await alarms.get(nkp))!
      assert.equal(a.status, 'yellow')
      assert.equal(a.name, alarmDefinitions.NkpNotBackedUp.name)
      assert.equal(a.first_raised, clock)
      assert.equal(a.acknowledged, false)

      // acknowledged through the route (Alarm.Acknowledge on root)
      clock += HOUR
      const ack = await t.request('POST', '/api/ward/alarms/acknowledge', {
        auth: admin,
        body: { definition: 'NkpNotBackedUp', object: 'root', subject: 'nkp-1' },
      })
      assert.equal(ack.status, 200, JSON.stringify(ack.json))
      const body = ack.json as { acknowledged: boolean; acknowledged_by: string; status: string }
      assert.equal(body.acknowledged, true)
      assert.equal(body.acknowledged_by, 'admin')
      assert.equal(body.status, 'yellow')

      // 23 h after the acknowledgement: still acknowledged; 24 h: raised again, an event
      clock += 23 * HOUR
      assert.equal(await alarms.reraiseDue(), 0)
      assert.equal((await alarms.get(nkp))!.acknowledged, true)
      clock += HOUR
      assert.equal(await alarms.reraiseDue(), 1)
      a = (await alarms.get(nkp))!
      assert.equal(a.acknowledged, false)
      assert.equal(a.last_raised, clock)
      assert.equal(a.first_raised, clock - 25 * HOUR)
      assert.equal(await alarms.reraiseDue(), 0, 'raised once per period')

      // an alarm without a re-raise period stays acknowledged; the NKP one comes back again
      const down = { definition: 'HostDisconnected', object: 'root', subject: 'x' } as const
      await alarms.raise(down, 'down')
      await alarms.acknowledge(down, 'admin')
      await alarms.acknowledge(nkp, 'admin')
      clock += 48 * HOUR
      assert.equal(await alarms.reraiseDue(), 1, 'only the NKP alarm')
      assert.equal((await alarms.get(down))!.acknowledged, true)
      assert.equal((await alarms.get(nkp))!.acknowledged, false)

      // backed up: cleared (green), and a cleared alarm cannot be acknowledged
      assert.equal(await alarms.clear(nkp), true)
      assert.equal(await alarms.clear(nkp), false)
      a = (await alarms.get(nkp))!
      assert.equal(a.status, 'green')
      assert.equal(a.cleared_at, clock)
      assert.equal(await alarms.reraiseDue(), 0)
      const again = await t.request('POST', '/api/ward/alarms/acknowledge', {
        auth: admin,
        body: { definition: 'NkpNotBackedUp', object: 'root', subject: 'nkp-1' },
      })
      assert.equal(again.status, 404)
      assert.equal((again.json as { code: string }).code, 'ERR_CENTER_NOT_FOUND')
      // an unknown definition is refused by the schema
      const bad = await t.request('POST', '/api/ward/alarms/acknowledge', {
        auth: admin,
        body: { definition: 'NoSuchAlarm', object: 'root' },
      })
      assert.equal(bad.status, 400)

      // every change was an event, with its type's text, newest first
      const evs = await t.request('GET', '/api/ward/events?object=root', { auth: admin })
      assert.equal(evs.status, 200)
      const list = evs.json as { type: string; message: string; user: string; time: string }[]
      const name = alarmDefinitions.NkpNotBackedUp.name
      assert.deepEqual(
        list
          .filter((e) => e.message.includes(name))
          .map((e) => e.message)
          .reverse(),
        [
          eventTypes.AlarmStatusChangedEvent.message({
            alarm: name,
            object: 'root (nkp-1)',
            from: 'green',
            to: 'yellow',
          }),
          eventTypes.AlarmAcknowledgedEvent.message({ alarm: name, object: 'root (nkp-1)' }),
          eventTypes.AlarmReraisedEvent.message({ alarm: name, object: 'root (nkp-1)' }),
          eventTypes.AlarmAcknowledgedEvent.message({ alarm: name, object: 'root (nkp-1)' }),
          eventTypes.AlarmReraisedEvent.message({ alarm: name, object: 'root (nkp-1)' }),
          eventTypes.AlarmStatusChangedEvent.message({
            alarm: name,
            object: 'root (nkp-1)',
            from: 'yellow',
            to: 'green',
          }),
        ],
      )
      assert.equal(list.find((e) => e.type === 'AlarmAcknowledgedEvent')!.user, 'admin')
      // ?after= pages forward; ?limit= bounds
      const newest = (list[0] as unknown as { id: number }).id
      const none = await t.request('GET', `/api/ward/events?after=${newest}`, { auth: admin })
      assert.deepEqual(none.json, [])
      const one = await t.request('GET', '/api/ward/events?limit=1', { auth: admin })
      assert.equal((one.json as unknown[]).length, 1)

      // the seed's locked VM text, exactly
      const locked = await events.post('VmLockedKeysMissingEvent', 'root', {})
      assert.equal(
        locked.message,
        'Virtual machine is locked because keys are missing on KMS cluster.',
      )

      // certificate expiry: within the window raised, renewed cleared
      const cert = { object: 'root', subject: 'kms-1/server' }
      await checkCertificate(alarms, cert, clock + 10 * 86_400_000, {
        now: clock,
        warnDays: 30,
        what: 'KMS server certificate of kms-1',
      })
      a = (await alarms.get({ definition: 'CertificateExpiring', ...cert }))!
      assert.equal(a.status, 'yellow')
      assert.match(a.message, /expires on .* \(in 10 days\): renew it/)
      await checkCertificate(alarms, cert, clock + 400 * 86_400_000, {
        now: clock,
        warnDays: 30,
        what: 'KMS server certificate of kms-1',
      })
      assert.equal(
        (await alarms.get({ definition: 'CertificateExpiring', ...cert }))!.status,
        'green',
      )

      // the leader's round checks the center's own certificates: fresh ones raise nothing...
      await t.center.monitor.pollOnce()
      for (const subject of ['ca', 'server', 'client'])
        assert.notEqual(
          (await alarms.get({ definition: 'CertificateExpiring', object: 'root', subject }))
            ?.status,
          'yellow',
        )
      // ...and 800 days on (the server certificate lasts 825) the server one is expiring
      clock += 800 * 86_400_000
      await t.center.monitor.pollOnce()
      assert.equal(
        (await alarms.get({ definition: 'CertificateExpiring', object: 'root', subject: 'server' }))
          ?.status,
        'yellow',
      )

      // a native key provider never backed up: NkpNotBackedUp raised by the leader's round (the
      // alarms table carries it, re-raised 24 h after an acknowledgement); deleted, it clears
      const made = await t.request('POST', '/api/vcenter/crypto-manager/kms/providers/native', {
        auth: admin,
        body: { provider: 'nkp-alarm' },
      })
      assert.equal(made.status, 201, JSON.stringify(made.json))
      const provider = made.json as string
      await t.center.monitor.pollOnce()
      const nkpAlarm = { definition: 'NkpNotBackedUp', object: 'root', subject: provider } as const
      assert.equal((await alarms.get(nkpAlarm))?.status, 'yellow')
      await alarms.acknowledge(nkpAlarm, 'admin')
      clock += 24 * HOUR
      await t.center.monitor.pollOnce()
      assert.equal((await alarms.get(nkpAlarm))?.acknowledged, false, 're-raised after 24 h')
      const del = await t.request(
        'DELETE',
        `/api/vcenter/crypto-manager/kms/providers/native/${provider}`,
        { auth: admin },
      )
      assert.equal(del.status, 204)
      await t.center.monitor.pollOnce()
      assert.equal((await alarms.get(nkpAlarm))?.status, 'green')

      // a standard provider whose KMS server nobody listens on: KmsUnreachable raised by the
      // leader's round; the server removed, it clears
      const kp = await t.request('POST', '/api/vcenter/crypto-manager/kms/providers', {
        auth: admin,
        body: { provider: 'kp-alarm', servers: [{ name: 'kms1', address: '127.0.0.1', port: 1 }] },
      })
      assert.equal(kp.status, 201, JSON.stringify(kp.json))
      clock += HOUR
      await t.center.monitor.pollOnce()
      const kmsAlarm = {
        definition: 'KmsUnreachable',
        object: 'root',
        subject: 'kp-alarm/kms1',
      } as const
      const ka = await alarms.get(kmsAlarm)
      assert.equal(ka?.status, 'red')
      assert.match(
        ka!.message,
        /KMS server kms1 \(127\.0\.0\.1:1\) of key provider kp-alarm is not connected/,
      )
      assert.equal(
        (
          await t.request('DELETE', '/api/vcenter/crypto-manager/kms/providers/kp-alarm', {
            auth: admin,
          })
        ).status,
        204,
      )
      clock += HOUR
      await t.center.monitor.pollOnce()
      assert.equal((await alarms.get(kmsAlarm))?.status, 'green')

      // a user without System.Read on root sees none of these events or alarms
      assert.equal(
        (
          await t.request('POST', '/api/ward/users', {
            auth: admin,
            body: { name: 'nobody', password: 'nobody-password' },
          })
        ).status,
        201,
      )
      const nobody = await t.login('nobody', 'nobody-password')
      assert.deepEqual((await t.request('GET', '/api/ward/events', { auth: nobody })).json, [])
      assert.deepEqual((await t.request('GET', '/api/ward/alarms', { auth: nobody })).json, [])
      const denied = await t.request('POST', '/api/ward/alarms/acknowledge', {
        auth: nobody,
        body: { definition: 'HostDisconnected', object: 'root', subject: 'x' },
      })
      assert.equal(denied.status, 403)
    } finally {
      await t.close()
    }
  })
