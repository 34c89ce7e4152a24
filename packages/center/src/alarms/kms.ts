/**
 * The standard key providers' alarms, a leader's check (monitor.addCheck), at most every
 * `everyMs`: each KMS server is probed as the provider status route does (providers/status.ts);
 * KmsUnreachable (object root, subject PROVIDER/SERVER) is raised for a server that does not
 * connect and cleared when it does; CertificateExpiring for its server certificate and the
 * provider's client certificate (subjects PROVIDER/SERVER/server-cert, PROVIDER/client-cert).
 */
import type { Kysely } from 'kysely'
import type { Sealer } from '../seal/sealer.js'
import type { CenterDb } from '../store/schema.js'
import { listProviders, readKeys } from '../providers/store.js'
import { providerStatus } from '../providers/status.js'
import { checkCertificate } from '../monitor/monitor.js'
import type { Alarms } from './alarms.js'

export function kmsCheck(
  db: Kysely<CenterDb>,
  sealer: Sealer,
  alarms: Alarms,
  o: { everyMs?: number; warnDays?: number } = {},
): (now: number) => Promise<void> {
  const every = o.everyMs ?? 60_000
  const warnDays = o.warnDays ?? 30
  let last = -Infinity
  return async (now) => {
    if (now - last < every) return
    last = now
    const providers = (await listProviders(db)).filter((p) => p.type === 'standard')
    const seen = new Set<string>()
    for (const p of providers) {
      const st = await providerStatus(p.id, p.spec, await readKeys(db, sealer, p.id))
      for (const s of st.servers) {
        const subject = `${p.id}/${s.name}`
        seen.add(subject)
        const ref = { definition: 'KmsUnreachable', object: 'root', subject } as const
        if (s.connection_status === 'connected') await alarms.clear(ref)
        else
          await alarms.raise(
            ref,
            `KMS server ${s.name} (${s.address}:${s.port}) of key provider ${p.id} is ${s.connection_status}`,
          )
        if (s.cert_info !== null)
          await checkCertificate(
            alarms,
            { object: 'root', subject: `${subject}/server-cert` },
            Date.parse(s.cert_info.not_after),
            { now, warnDays, what: `certificate of KMS server ${s.name} of key provider ${p.id}` },
          )
      }
      if (st.client_cert_info !== null)
        await checkCertificate(
          alarms,
          { object: 'root', subject: `${p.id}/client-cert` },
          Date.parse(st.client_cert_info.not_after),
          { now, warnDays, what: `client certificate of key provider ${p.id}` },
        )
    }
    // a server or provider removed: its alarm is gone too
    for (const a of await alarms.list({ active: true }))
      if (a.definition === 'KmsUnreachable' && !seen.has(a.subject))
        await alarms.clear({ definition: 'KmsUnreachable', object: a.object, subject: a.subject })
  }
}
