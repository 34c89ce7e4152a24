/**
 * Field builders for TPM 2.0 wire structures (Part 2 §5-§13 marshalling rules: big-endian,
 * TPM2B = u16 size + bytes, lists = u32 count + items, unions selected by an earlier member).
 * A structure is a plain value; `encode`/`decode` in codec.ts read it, and `Infer`/`Input` derive
 * the TypeScript types, so no structure has hand-written marshalling code.
 */

export type UintField = { readonly kind: 'uint'; readonly size: 1 | 2 | 4 }
export type U64Field = { readonly kind: 'u64' }
export type ConstField = {
  readonly kind: 'const'
  readonly base: UintField
  readonly value: number
}
export type BytesField = {
  readonly kind: 'bytes'
  /** width of the size prefix: 2 for TPM2B, 1 for TPMS_PCR_SELECTION.pcrSelect */
  readonly prefix: 1 | 2
  readonly max: number
  readonly sensitive: boolean
}
export type RawField = { readonly kind: 'raw'; readonly length: number }
export type SizedField = { readonly kind: 'sized'; readonly inner: Field; readonly max: number }
export type StructField = { readonly kind: 'struct'; readonly members: Members }
export type ListField = { readonly kind: 'list'; readonly item: Field; readonly max: number }
export type UnionField = {
  readonly kind: 'union'
  /** name of an earlier member of the same struct holding the selector */
  readonly selector: string
  readonly branches: Readonly<Record<number, Field>>
}
export type Field =
  | UintField
  | U64Field
  | ConstField
  | BytesField
  | RawField
  | SizedField
  | StructField
  | ListField
  | UnionField
export type Members = Readonly<Record<string, Field>>

export const u8: UintField = { kind: 'uint', size: 1 }
export const u16: UintField = { kind: 'uint', size: 2 }
export const u32: UintField = { kind: 'uint', size: 4 }
export const u64: U64Field = { kind: 'u64' }
/** A member whose value is fixed by the spec; decode throws ERR_TPM_DECODE unless equal. */
export const constant = (base: UintField, value: number): ConstField => ({
  kind: 'const',
  base,
  value,
})
/** TPM2B_xxx holding raw bytes (u16 size). `max` is the spec's sizeof bound. */
export const tpm2b = (max: number, o: { sensitive?: boolean } = {}): BytesField => ({
  kind: 'bytes',
  prefix: 2,
  max,
  sensitive: o.sensitive ?? false,
})
/** u8-prefixed byte array (TPMS_PCR_SELECTION.pcrSelect). */
export const bytes8 = (max: number): BytesField => ({
  kind: 'bytes',
  prefix: 1,
  max,
  sensitive: false,
})
/** Fixed-length bytes (TPMU_HA digests). */
export const raw = (length: number): RawField => ({ kind: 'raw', length })
/** TPM2B wrapping a structure: decodes to `{ bytes, value }`; signatures are checked over `bytes`. */
export const sized = <const F extends Field>(inner: F, max = 4096) =>
  ({ kind: 'sized', inner, max }) as const
export const struct = <const M extends Members>(members: M) =>
  ({ kind: 'struct', members }) as const
/** TPML_xxx: u32 count then items; `max` bounds the count before anything is allocated. */
export const list = <const F extends Field>(item: F, max: number) =>
  ({ kind: 'list', item, max }) as const
/** TPMU_xxx selected by an earlier sibling; a missing selector value is a decode error. */
export const union = <const B extends Readonly<Record<number, Field>>>(
  selector: string,
  branches: B,
) => ({ kind: 'union', selector, branches }) as const
/** The empty branch of a union (TPM_ALG_NULL). */
export const empty = struct({})

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** Decoded value of a field. */
export type Infer<F> = Field extends F
  ? unknown // the wide type (generic callers): do not expand
  : F extends UintField | ConstField
    ? number
    : F extends U64Field
      ? bigint
      : F extends BytesField | RawField
        ? Uint8Array
        : F extends { kind: 'sized'; inner: infer I }
          ? { bytes: Uint8Array; value: Infer<I> }
          : F extends { kind: 'struct'; members: infer M }
            ? Simplify<{ -readonly [K in keyof M]: Infer<M[K]> }>
            : F extends { kind: 'list'; item: infer I }
              ? Infer<I>[]
              : F extends { kind: 'union'; branches: infer B }
                ? Infer<B[keyof B]>
                : never

/** Value accepted by the encoder: constants may be omitted, sized structures given as bytes. */
export type Input<F> = Field extends F
  ? unknown
  : F extends UintField
    ? number
    : F extends ConstField
      ? number | undefined
      : F extends U64Field
        ? bigint
        : F extends BytesField | RawField
          ? Uint8Array
          : F extends { kind: 'sized'; inner: infer I }
            ? { bytes: Uint8Array } | { value: Input<I> }
            : F extends { kind: 'struct'; members: infer M }
              ? Simplify<
                  {
                    -readonly [K in keyof M as M[K] extends ConstField ? never : K]: Input<M[K]>
                  } & {
                    -readonly [K in keyof M as M[K] extends ConstField ? K : never]?: number
                  }
                >
              : F extends { kind: 'list'; item: infer I }
                ? readonly Input<I>[]
                : F extends { kind: 'union'; branches: infer B }
                  ? Input<B[keyof B]>
                  : never
