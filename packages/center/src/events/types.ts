/**
 * The center's event types, declared once: id (vSphere's event class name where it has one),
 * severity and message. Messages are the seed's texts where it gives them (vsphere-features.md
 * §20: the locked VM events), vCenter's event texts otherwise. `ward event list`, the events route
 * and docs/center.md read this table.
 */
export type Severity = 'info' | 'warning' | 'error'

interface EventType<A> {
  readonly severity: Severity
  readonly message: (a: A) => string
}

const ev = <A = Record<string, never>>(
  severity: Severity,
  message: (a: A) => string,
): EventType<A> => ({ severity, message })

export const eventTypes = {
  // hosts (vim.event.HostConnectedEvent, HostNotRespondingEvent, HostDisconnectedEvent)
  HostConnectedEvent: ev<{ host: string; datacenter: string }>(
    'info',
    (a) => `Connected to ${a.host} in ${a.datacenter}`,
  ),
  HostNotRespondingEvent: ev<{ host: string; datacenter: string }>(
    'error',
    (a) => `Host ${a.host} in ${a.datacenter} is not responding`,
  ),
  HostDisconnectedEvent: ev<{ host: string; datacenter: string; reason: string }>(
    'warning',
    (a) => `Host ${a.host} in ${a.datacenter} is disconnected: ${a.reason}`,
  ),
  // host crypto state (CryptoManagerHost)
  HostCryptoStateChangedEvent: ev<{ host: string; from: string; to: string }>(
    'info',
    (a) => `The crypto state of host ${a.host} changed from ${a.from} to ${a.to}`,
  ),
  ClusterCryptoModeChangedEvent: ev<{ cluster: string; mode: string }>(
    'info',
    (a) => `The encryption mode of cluster ${a.cluster} is now ${a.mode}`,
  ),
  // VMs: the seed's texts (GUID-75758B55)
  VmLockedKmsClusterErrorEvent: ev(
    'error',
    () => 'Virtual machine is locked because of a KMS cluster error.',
  ),
  VmLockedKeysMissingEvent: ev(
    'error',
    () => 'Virtual machine is locked because keys are missing on KMS cluster.',
  ),
  // alarms (vim.event.AlarmStatusChangedEvent, AlarmAcknowledgedEvent)
  AlarmStatusChangedEvent: ev<{ alarm: string; object: string; from: string; to: string }>(
    'info',
    (a) => `Alarm '${a.alarm}' on ${a.object} changed from ${a.from} to ${a.to}`,
  ),
  AlarmAcknowledgedEvent: ev<{ alarm: string; object: string }>(
    'info',
    (a) => `Acknowledged alarm '${a.alarm}' on ${a.object}`,
  ),
  AlarmReraisedEvent: ev<{ alarm: string; object: string }>(
    'warning',
    (a) => `Alarm '${a.alarm}' on ${a.object} is raised again: the condition still holds`,
  ),
  // HA (Ward's)
  LeaderElectedEvent: ev<{ node: string; epoch: number }>(
    'info',
    (a) => `Center node ${a.node} leads now (epoch ${a.epoch})`,
  ),
} as const

export type EventTypeId = keyof typeof eventTypes
export type EventArgs<T extends EventTypeId> =
  (typeof eventTypes)[T] extends EventType<infer A> ? A : never
