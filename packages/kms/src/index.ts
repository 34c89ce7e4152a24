export {
  startKmsServer,
  type KmsServer,
  type KmsServerOptions,
  type KmsServerStats,
} from './server/server.js'
export { initKms, addClient, type InitResult } from './admin/init.js'
export { kmsStatus, type KmsStatus } from './admin/status.js'
export { revokeClient, listClients, type RevokeResult, type ClientRow } from './admin/revocation.js'
export { grantAccess, grantWarnings, revokeAccess, listGrants } from './admin/grants.js'
export { listObjects, showObject, type ObjectFilter, type ObjectSummary } from './admin/objects.js'
export { KmsError, kmsErrors, resultReasonOf, type KmsErrorCode } from './errors.js'
export { privilegeNames } from './operations/registry.js'
