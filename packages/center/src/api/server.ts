/**
 * The REST API server: fastify routes registered from the operation table (api/operations.ts).
 * - schemas are the allowlist: Ajv with removeAdditional and coercion off, so unknown fields,
 *   wrong types and out-of-bound values are refused (400 ERR_CENTER_BAD_REQUEST) before any
 *   handler runs; bodies over the limit are 413; an operation without a body refuses one.
 * - every route must declare who may call it (`access`): `onRoute` stops the server at start
 *   otherwise (ERR_CENTER_ROUTE_TABLE), for routes added outside the table too.
 * - authentication (session id header or API token) runs first, authorization after the schemas
 *   have accepted the request, since the object a privilege applies to comes from it. Every
 *   decision is an audit row and a log line.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from '@ward/core'
import addFormats from 'ajv-formats'
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { effectivePrivileges, type HeldPermission } from '../authz/effective.js'
import { heldPermissions } from '../authz/authorizer.js'
import { isPrivilege } from '../authz/privileges.js'
import { CenterError, centerErrors, type CenterErrorCode } from '../errors.js'
import { TreeReader } from '../inventory/tree.js'
import type { Ctx, Handlers, Services } from './context.js'
import { errorBody } from './http-errors.js'
import { operations, type OperationId } from './operations.js'
import type { Access, AnyOp } from './spec.js'
import { ErrorBody, closed } from './schemas.js'
import { Type } from 'typebox'

const NoQuery = Type.Object({}, closed)

export const SESSION_HEADER = 'vmware-api-session-id'
export const DEFAULT_BODY_LIMIT = 64 * 1024

interface WardRequest {
  user: string | undefined
  sessionId: string | undefined
  held: Map<string, HeldPermission> | undefined
  tree: TreeReader | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    ward: WardRequest
  }
  interface FastifyContextConfig {
    operation?: string
    access?: Access<unknown>
  }
}

export interface ApiOptions {
  readonly bodyLimit?: number
  readonly https?: { readonly key: string | Buffer; readonly cert: string | Buffer }
  /** Extra routes to register (tests: a route without access must stop the server). */
  readonly extraRoutes?: (app: FastifyInstance) => void
}

/** Check one route's declared access; throws ERR_CENTER_ROUTE_TABLE. */
export function checkAccess(where: string, access: unknown): void {
  const a = access as Access<unknown> | undefined
  const fail = (why: string): never => {
    throw new CenterError(
      'ERR_CENTER_ROUTE_TABLE',
      `${where}: ${why}; every route declares its access (public, session, object or filter with privileges)`,
    )
  }
  if (a === undefined || typeof a !== 'object') fail('no access declared')
  else if (a.kind === 'object' || a.kind === 'filter') {
    if (!Array.isArray(a.privileges) || a.privileges.length === 0) fail('no privilege declared')
    for (const p of a.privileges) if (!isPrivilege(p)) fail(`unknown privilege ${String(p)}`)
    if (a.kind === 'object' && typeof a.object !== 'function') fail('no object declared')
  } else if (a.kind !== 'public' && a.kind !== 'session') fail(`unknown access kind`)
}

export async function buildApi(
  services: Services,
  handlers: Handlers,
  options: ApiOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as Logger,
    // our own line per request (onResponse below): method, route, status; never headers or query
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    genReqId: () => randomUUID(),
    ...(options.https !== undefined
      ? { https: { key: options.https.key, cert: options.https.cert } }
      : {}),
    // errors fastify raises before routing (a malformed URL, a too-long id): coded like ours
    frameworkErrors: (err: Error, req: FastifyRequest, reply: FastifyReply) => {
      const { status, body } = errorBody(
        'ERR_CENTER_BAD_REQUEST',
        `the request URL is malformed or too long (${err.message}); check the ids`,
        req.id,
      )
      void reply.code(status).send(body)
    },
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
      },
      plugins: [addFormats.default ?? addFormats],
    },
  } as unknown as FastifyServerOptions).withTypeProvider<TypeBoxTypeProvider>()

  app.decorateRequest('ward', null as unknown as WardRequest)

  app.addHook('onRoute', (route) => {
    // fastify's own HEAD twins of GET routes carry the GET's config
    checkAccess(`${String(route.method)} ${route.url}`, route.config?.access)
  })

  const audit = (
    req: FastifyRequest,
    e: {
      principal?: string
      privileges?: readonly string[]
      object?: string
      outcome: 'allowed' | 'denied' | 'unauthenticated' | 'not-found' | 'locked-out'
      missing?: string
      status: number
    },
  ) =>
    services.audit.record({
      requestId: req.id,
      principal: e.principal ?? req.ward.user ?? '-',
      method: req.method,
      route: req.routeOptions.url ?? req.url.split('?')[0] ?? '',
      privileges: e.privileges ?? [],
      object: e.object ?? '',
      outcome: e.outcome,
      ...(e.missing !== undefined ? { missing: e.missing } : {}),
      status: e.status,
    })

  app.addHook('onRequest', async (req) => {
    req.ward = { user: undefined, sessionId: undefined, held: undefined, tree: undefined }
    const access = req.routeOptions.config.access
    if (access === undefined || access.kind === 'public') return
    const sid = req.headers[SESSION_HEADER]
    const auth = req.headers.authorization
    let user: string | undefined
    if (typeof sid === 'string') {
      user = await services.accounts.sessionUser(sid)
      if (user !== undefined) req.ward.sessionId = sid
    } else if (typeof auth === 'string' && auth.startsWith('Bearer '))
      user = await services.accounts.tokenUser(auth.slice(7))
    if (user === undefined) {
      await audit(req, { outcome: 'unauthenticated', status: 401 })
      throw new CenterError(
        'ERR_CENTER_UNAUTHENTICATED',
        `log in first: POST /api/session with basic auth (ward login), then send the session id in ${SESSION_HEADER}, or send an API token as Authorization: Bearer`,
      )
    }
    req.ward.user = user
  })

  app.addHook('preValidation', async (req) => {
    const op = operations[req.routeOptions.config.operation as OperationId] as AnyOp | undefined
    if (op !== undefined && op.body === undefined && req.body !== undefined && req.body !== null)
      throw new CenterError(
        'ERR_CENTER_BAD_REQUEST',
        `${op.method} ${op.url} takes no body; send none`,
      )
  })

  const held = async (req: FastifyRequest): Promise<Map<string, HeldPermission>> =>
    (req.ward.held ??= await heldPermissions(services.store.db, req.ward.user!))
  const tree = (req: FastifyRequest): TreeReader =>
    (req.ward.tree ??= new TreeReader(services.store.db))

  app.addHook('preHandler', async (req) => {
    const access = req.routeOptions.config.access
    if (access === undefined) return
    if (access.kind === 'public' || access.kind === 'session' || access.kind === 'filter') {
      await audit(req, {
        outcome: 'allowed',
        status: 200,
        ...(access.kind === 'filter' ? { privileges: access.privileges, object: '*' } : {}),
      })
      return
    }
    const object = access.object({ params: req.params, query: req.query, body: req.body })
    const path = await tree(req).pathOf(object)
    if (path === undefined) {
      await audit(req, { outcome: 'not-found', privileges: access.privileges, object, status: 404 })
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no object ${object} in the inventory; list them (ward inventory) and check the id`,
      )
    }
    const eff = effectivePrivileges(await held(req), path)
    const missing = access.privileges.find((p) => !eff.has(p))
    if (missing !== undefined) {
      await audit(req, {
        outcome: 'denied',
        privileges: access.privileges,
        object,
        missing,
        status: 403,
      })
      throw new CenterError(
        'ERR_CENTER_PERMISSION_DENIED',
        `${req.ward.user} lacks the privilege ${missing} on ${object}; an administrator can give a role that has it (ward permission set --object ${object} --principal ${req.ward.user} --role ROLE)`,
        { privilege: missing, object },
      )
    }
    await audit(req, { outcome: 'allowed', privileges: access.privileges, object, status: 200 })
  })

  app.setErrorHandler(
    (
      err: Error & {
        code?: string
        statusCode?: number
        validation?: unknown
        validationContext?: string
      },
      req,
      reply,
    ) => {
      let code: CenterErrorCode
      let message = err.message
      if (err instanceof CenterError) code = err.code
      else if (err.validation !== undefined) {
        code = 'ERR_CENTER_BAD_REQUEST'
        message = `${err.validationContext ?? 'request'}: ${err.message}; see GET /api/openapi.json for the accepted shape`
      } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        code = 'ERR_CENTER_BODY_TOO_LARGE'
        message = 'the request body is larger than this operation accepts; send less'
      } else if (
        typeof err.statusCode === 'number' &&
        err.statusCode >= 400 &&
        err.statusCode < 500
      ) {
        code = 'ERR_CENTER_BAD_REQUEST'
        message = `${err.message}; send a JSON body (Content-Type: application/json) of the documented shape`
      } else {
        code = 'ERR_CENTER_INTERNAL'
        req.log.error({ err, reqId: req.id }, 'request failed')
      }
      if (!(code in centerErrors)) code = 'ERR_CENTER_INTERNAL'
      const { status, body } = errorBody(code, message, req.id)
      if (code === 'ERR_CENTER_LOCKED_OUT' && err instanceof CenterError)
        void reply.header('retry-after', String(err.details['retryAfterSeconds'] ?? 60))
      void reply.code(status).send(body)
    },
  )

  app.setNotFoundHandler({}, (req, reply) => {
    const { status, body } = errorBody(
      'ERR_CENTER_NOT_FOUND',
      `no operation ${req.method} ${req.url.split('?')[0]}; GET /api/openapi.json lists them`,
      req.id,
    )
    void reply.code(status).send(body)
  })

  app.addHook('onResponse', async (req, reply) => {
    req.log.info(
      {
        reqId: req.id,
        method: req.method,
        route: req.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    )
  })

  for (const [id, raw] of Object.entries(operations)) {
    const op = raw as AnyOp
    const handler = handlers[id as OperationId] as (ctx: Ctx, input: unknown) => Promise<unknown>
    const status = op.status ?? 200
    ;(app as unknown as FastifyInstance).route({
      method: op.method,
      url: op.url,
      ...(op.bodyLimit !== undefined ? { bodyLimit: op.bodyLimit } : {}),
      config: { operation: id, access: op.access as Access<unknown> },
      schema: {
        ...(op.params !== undefined ? { params: op.params } : {}),
        // no query declared: none accepted (an unknown parameter is refused like an unknown field)
        querystring: op.query ?? NoQuery,
        ...(op.body !== undefined ? { body: op.body } : {}),
        response: {
          ...(status === 204 ? {} : { [status]: op.response }),
          '4xx': ErrorBody,
          '5xx': ErrorBody,
        },
      },
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const ctx: Ctx = {
          services,
          user: req.ward.user,
          sessionId: req.ward.sessionId,
          authorization: req.headers.authorization,
          requestId: req.id,
          reply,
          privilegesOn: async (objectId) => {
            if (req.ward.user === undefined) return new Set()
            const path = await tree(req).pathOf(objectId)
            return path === undefined ? new Set() : effectivePrivileges(await held(req), path)
          },
          visible: async (objectId, parent) => {
            if (op.access.kind !== 'filter') return true
            const t = tree(req)
            if (parent !== undefined) t.know(objectId, parent)
            const path = await t.pathOf(objectId)
            if (path === undefined) return false
            const eff = effectivePrivileges(await held(req), path)
            return op.access.privileges.every((p) => eff.has(p))
          },
        }
        const out = await handler(ctx, { params: req.params, query: req.query, body: req.body })
        void reply.code(status)
        if (status === 204) return reply.send()
        // fastify sends a string as it is: a JSON string answer (an id) is encoded here
        if (typeof out === 'string')
          return reply.type('application/json; charset=utf-8').send(JSON.stringify(out))
        return out
      },
    })
  }
  options.extraRoutes?.(app as unknown as FastifyInstance)
  await app.ready()
  return app as unknown as FastifyInstance
}
