/**
 * A TPM command is declared once as data: code, handle names (in wire order, with whether each
 * needs an authorization session), parameters and response. `Tpm.run` marshals any of them.
 */
import type { Field, Infer, Input, Members } from '../marshal/dsl.js'
import { struct } from '../marshal/dsl.js'

/** 'auth': the handle needs an authorization session (Part 3 "Auth Index" column). */
export type HandleRole = 'auth' | 'none'

export interface CommandDef<
  H extends Readonly<Record<string, HandleRole>> = Readonly<Record<string, HandleRole>>,
  P extends Members = Members,
  RH extends readonly string[] = readonly string[],
  R extends Members = Members,
> {
  readonly name: string
  readonly cc: number
  readonly handles: H
  readonly params: { readonly kind: 'struct'; readonly members: P }
  readonly responseHandles: RH
  readonly response: { readonly kind: 'struct'; readonly members: R }
}

/** Declare a command; see commands/*.ts for the spec-cited declarations. */
export function command<
  const H extends Readonly<Record<string, HandleRole>> = Record<never, HandleRole>,
  const P extends Members = Record<never, Field>,
  const RH extends readonly string[] = readonly [],
  const R extends Members = Record<never, Field>,
>(
  name: string,
  cc: number,
  def: { handles?: H; params?: P; responseHandles?: RH; response?: R },
): CommandDef<H, P, RH, R> {
  return {
    name,
    cc,
    handles: def.handles ?? ({} as H),
    params: struct(def.params ?? ({} as P)),
    responseHandles: def.responseHandles ?? ([] as unknown as RH),
    response: struct(def.response ?? ({} as R)),
  }
}

/** Arguments of a command: one number per handle plus the parameters. */
export type CommandArgs<C> =
  C extends CommandDef<infer H, infer P, readonly string[], Members>
    ? { [K in keyof H]: number } & Input<{ kind: 'struct'; members: P }>
    : never

/** Result of a command: one number per response handle plus the decoded parameters. */
export type CommandResult<C> =
  C extends CommandDef<Readonly<Record<string, HandleRole>>, Members, infer RH, infer R>
    ? { [K in RH[number]]: number } & Infer<{ kind: 'struct'; members: R }>
    : never
