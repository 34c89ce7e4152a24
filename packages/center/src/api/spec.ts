/**
 * How an API operation is declared: one plain row (method, url, who may call it and on which
 * inventory object, TypeBox schemas for params, query, body and response). The fastify routes
 * (api/server.ts), the OpenAPI document (api/openapi.ts), the typed client (client.ts) and the
 * privilege-matrix tests all read the same rows (api/operations.ts).
 */
import type { Static, TSchema } from 'typebox'
import type { Privilege } from '../authz/privileges.js'

/** What an operation receives once its schemas have accepted the request. */
export interface Input<P, Q, B> {
  readonly params: P
  readonly query: Q
  readonly body: B
}

/**
 * Who may call an operation:
 * - `public`: anyone (the operation authenticates by itself: login, host join with its token);
 * - `session`: any authenticated user, about themselves (their session, their API tokens);
 * - `object`: the user must hold every one of `privileges` on the inventory object `object`
 *   names (from the validated request; 'root' for the center itself);
 * - `filter`: a list; each item is shown only where the user holds `privileges` on it.
 */
export type Access<I> =
  | { readonly kind: 'public' }
  | { readonly kind: 'session' }
  | { readonly kind: 'filter'; readonly privileges: readonly Privilege[] }
  | {
      readonly kind: 'object'
      readonly privileges: readonly Privilege[]
      readonly object: (input: I) => string
    }

type In<S> = S extends TSchema ? Static<S> : undefined

export interface OpSpec<
  P extends TSchema | undefined,
  Q extends TSchema | undefined,
  B extends TSchema | undefined,
  R extends TSchema,
> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** fastify form: /api/vcenter/datacenter/:datacenter */
  readonly url: string
  readonly summary: string
  /** Success status (default 200). */
  readonly status?: 200 | 201 | 204
  readonly params?: P
  readonly query?: Q
  readonly body?: B
  readonly response: R
  readonly access: Access<Input<In<P>, In<Q>, In<B>>>
  /** Largest request body in bytes (default: the server's, 64 KiB). */
  readonly bodyLimit?: number
}

/** An operation row; its types are kept for the client and the handlers. */
export function op<
  P extends TSchema | undefined = undefined,
  Q extends TSchema | undefined = undefined,
  B extends TSchema | undefined = undefined,
  R extends TSchema = TSchema,
>(spec: OpSpec<P, Q, B, R>): OpSpec<P, Q, B, R> {
  return spec
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the table's rows, types erased
export type AnyOp = OpSpec<any, any, any, TSchema>

/** The validated input of an operation. */
export type InputOf<O> =
  O extends OpSpec<infer P, infer Q, infer B, TSchema> ? Input<In<P>, In<Q>, In<B>> : never

/** The response body of an operation. */
export type OutputOf<O> =
  O extends OpSpec<TSchema | undefined, TSchema | undefined, TSchema | undefined, infer R>
    ? Static<R>
    : never
