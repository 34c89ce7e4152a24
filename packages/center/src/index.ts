/**
 * `ward center`: the management plane (issue 13). Inventory, key providers, VM encryption tasks
 * run on the hosts, cryptographic privileges, the REST API, HA on PostgreSQL.
 */
export { CenterError, centerErrors, type CenterErrorCode } from './errors.js'
export {
  initCenterPki,
  loadCenterPki,
  PKI_DIR,
  PkiFiles,
  PkiValidity,
  type CenterPki,
  type InitCenterPkiOptions,
} from './pki/center-pki.js'
export {
  signHostCsr,
  addressHost,
  AllowedHostKeys,
  MAX_CSR_PEM,
  type HostCsrOptions,
} from './pki/sign-csr.js'
export { certFingerprint, type IssuedCert, type CertAndKey } from './pki/certs.js'
export {
  HostClient,
  HostClientLimits,
  pushKey,
  notTheHost,
  type HostClientOptions,
  type OptionalParamsRemoteOp,
  type PushedKey,
} from './hosts/client.js'
export {
  createCenter,
  initCenter,
  serveCenter,
  centerPaths,
  pkiSigner,
  type Center,
  type CenterOptions,
} from './center.js'
export {
  CenterClient,
  ApiError,
  type CallInput,
  type CallOutput,
  type ClientOptions,
} from './client.js'
export { operations, type OperationId, type Operations } from './api/operations.js'
export { openapiDocument } from './api/openapi.js'
export { privileges, privilegeTable, isPrivilege, type Privilege } from './authz/privileges.js'
export { systemRoles, noCryptoAdminLacks } from './authz/roles.js'
export { openStore, type Store } from './store/open.js'
export { defaultArgon2, MAX_PASSWORD_BYTES } from './auth/password.js'
// native key providers (providers/native/)
export {
  NativeKeyProviders,
  NativeLimits,
  NOT_BACKED_UP_ALARM,
  type NativeProviderInfo,
  type ImportResult,
} from './providers/native/native.js'
export { HostLinks } from './providers/native/host-links.js'
export { buildPkcs12, openPkcs12, Pkcs12Params } from './providers/native/pkcs12.js'
export type { KeyProviderRuntime, KeyProviders, KeyState } from './providers/types.js'
// providers: the typed client's result type (the CLI's api helper names it)
// VM encryption tasks (tasks/)
export {
  TaskRunner,
  TaskRunnerDefaults,
  type Executor,
  type TaskContext,
  type TaskRunnerOptions,
} from './tasks/runner.js'
export { TaskStore, TaskStates, taskObject, type TaskState, type TaskView } from './tasks/store.js'
export { HostClients } from './tasks/hosts.js'
export { vmExecutors, VmTaskKinds, type VmTaskKind } from './tasks/vm-tasks.js'
export type { CenterTaskOptions } from './center.js'
export type { OutputOf } from './api/spec.js'
export type { InputOf } from './api/spec.js'
// ha: leadership (for the task runner), events, alarms, the leader's monitor
export {
  leadershipFor,
  leaseLeadership,
  soleLeadership,
  LeaseDefaults,
  type Leadership,
  type LeaderStatus,
  type LeaseOptions,
} from './ha/leadership.js'
export { eventLog, type EventLog, type EventRow } from './events/events.js'
export { eventTypes, type EventTypeId, type EventArgs } from './events/types.js'
export { alarmStore, type Alarms, type AlarmRef, type AlarmRow } from './alarms/alarms.js'
export { alarmDefinitions, type AlarmDefinitionId } from './alarms/definitions.js'
export {
  Monitor,
  MonitorDefaults,
  checkCertificate,
  type MonitorCheck,
  type MonitorOptions,
} from './monitor/monitor.js'
export {
  enableHostEncryption,
  type HostKeyDelivery,
  type HostKeyRef,
} from './monitor/host-crypto.js'
