export {
  startKmsServer,
  type KmsServer,
  type KmsServerOptions,
  type KmsServerStats,
} from './server/server.js'
export { initKms, addClient, type InitResult } from './admin/init.js'
export { kmsStatus, type KmsStatus } from './admin/status.js'
export { revokeClient, listClients, type RevokeResult, type ClientRow } from './admin/revocation.js'
export { grantAccess, revokeAccess, listGrants } from './admin/grants.js'
export { KmsError } from './errors.js'
export { privilegeNames } from './operations/registry.js'
