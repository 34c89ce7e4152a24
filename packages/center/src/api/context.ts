import type { Logger } from '@ward/core'
import type { Privilege } from '../authz/privileges.js'
import type { FastifyReply } from 'fastify'
import type { Accounts } from '../auth/accounts.js'
import type { AuditLog } from '../audit/audit.js'
import type { Sealer } from '../seal/sealer.js'
import type { Store } from '../store/open.js'
import type { NativeKeyProviders } from '../providers/native/native.js'
import type { TaskStore } from '../tasks/store.js'
import type { Leadership } from '../ha/leadership.js'
import type { EventLog } from '../events/events.js'
import type { Alarms } from '../alarms/alarms.js'
import type { Monitor } from '../monitor/monitor.js'
import type { InputOf, OutputOf } from './spec.js'
import type { OperationId, Operations } from './operations.js'
// providers
import type { ProviderRegistry } from '../providers/registry.js'

/**
 * Signs a joining host's CSR with the center's CA (pki/, wired by `ward center serve`): the PEM
 * certificate and the CA certificate the host will trust the center by.
 */
export type HostCsrSigner = (req: {
  readonly csrPem: string
  readonly hostId: string
  readonly hostName: string
  /** host:port of the host's mutual-TLS listener (an IP or DNS SAN of the certificate). */
  readonly address: string
}) => Promise<{
  readonly certificatePem: string
  readonly caCertificatePem: string
  /** `sha256:<hex>` of the certificate. */
  readonly fingerprint: string
}>

/** What the handlers use. */
export interface Services {
  readonly store: Store
  readonly accounts: Accounts
  readonly sealer: Sealer
  readonly audit: AuditLog
  readonly logger: Logger
  readonly signHostCsr?: HostCsrSigner
  /** Native key providers (providers/native/); absent in a center built without them. */
  readonly nkp?: NativeKeyProviders
  // providers: the key providers (KeyProviders of providers/types.ts, for the tasks too)
  readonly keyProviders: ProviderRegistry
  /** The task rows and the runner to wake when one is queued (tasks/). */
  readonly tasks?: { readonly store: TaskStore; kick(): void }
  /** The OpenAPI document (api/openapi.ts), built once at start. */
  readonly openapi: () => unknown
  // ha: leadership, events, alarms, the leader's host monitor (ha/, events/, alarms/, monitor/)
  readonly leadership: Leadership
  readonly events: EventLog
  readonly alarms: Alarms
  readonly monitor: Monitor
}

/** One request as a handler sees it. */
export interface Ctx {
  readonly services: Services
  /** The authenticated user (undefined on public operations). */
  readonly user: string | undefined
  /** The session id the request came with (session operations). */
  readonly sessionId: string | undefined
  /** The Authorization header (session.create reads basic auth from it). */
  readonly authorization: string | undefined
  readonly requestId: string
  readonly reply: FastifyReply
  /** For `filter` operations: may the user see `id` (the operation's privileges held on it)? */
  readonly visible: (id: string, parent?: string) => Promise<boolean>
  /** The user's effective privileges on `id` (empty when it does not exist). */
  readonly privilegesOn: (id: string) => Promise<ReadonlySet<Privilege>>
}

export type Handler<O> = (ctx: Ctx, input: InputOf<O>) => Promise<OutputOf<O>>

/** One handler per operation, complete (a missing one is a compile error). */
export type Handlers = { readonly [K in OperationId]: Handler<Operations[K]> }
