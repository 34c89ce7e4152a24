/**
 * Payloads of the cryptographic operations: Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC
 * Verify, RNG Retrieve, Hash (KMIP 1.4 §4.29-4.36; 2.1 §6.1.11/18/22/28/29/43/44/48). Streamed
 * requests carry Init Indicator, Correlation Value and Final Indicator. Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import type { Field } from '../schema/dsl.js'
import {
  boolean,
  byteString,
  enumerated,
  integer,
  optional,
  required,
  struct,
  textString,
} from '../schema/dsl.js'
import { CryptographicParameters } from './structures.js'

const keyed = {
  uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)),
  cryptographicParameters: optional(CryptographicParameters),
} as const
const stream = {
  correlationValue: optional(byteString(Tag.CorrelationValue)),
  initIndicator: optional(boolean(Tag.InitIndicator)),
  finalIndicator: optional(boolean(Tag.FinalIndicator)),
} as const
const answeredBy = { uniqueIdentifier: required(textString(Tag.UniqueIdentifier)) } as const
const sensitiveData = byteString(Tag.Data, { sensitive: true })
/**
 * The input of a keyed operation: required to compute anything, but optional on the wire (KMIP
 * 2.1 marks it so: a stream's last request may carry none), and checked by the server once the
 * key is known, so that an unknown key is reported as such whatever else the request lacks.
 */
const input = <F extends Field>(f: F) => optional(f)

/** Encrypt request, KMIP 1.4 §4.29 (2.1 §6.1.18). */
export const EncryptRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(sensitiveData),
  ivCounterNonce: optional(byteString(Tag.IVCounterNonce)),
  ...stream,
  authenticatedEncryptionAdditionalData: optional(
    byteString(Tag.AuthenticatedEncryptionAdditionalData),
  ),
})
/** Encrypt response, KMIP 1.4 §4.29. */
export const EncryptResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  data: required(byteString(Tag.Data)),
  ivCounterNonce: optional(byteString(Tag.IVCounterNonce)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
  authenticatedEncryptionTag: optional(byteString(Tag.AuthenticatedEncryptionTag)),
})

/** Decrypt request, KMIP 1.4 §4.30 (2.1 §6.1.11). */
export const DecryptRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(byteString(Tag.Data)),
  ivCounterNonce: optional(byteString(Tag.IVCounterNonce)),
  ...stream,
  authenticatedEncryptionAdditionalData: optional(
    byteString(Tag.AuthenticatedEncryptionAdditionalData),
  ),
  authenticatedEncryptionTag: optional(byteString(Tag.AuthenticatedEncryptionTag)),
})
/** Decrypt response, KMIP 1.4 §4.30: the plaintext. */
export const DecryptResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  data: required(sensitiveData),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})

/** Sign request, KMIP 1.4 §4.31 (2.1 §6.1.43). */
export const SignRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(byteString(Tag.Data)),
  ...stream,
})
/** Sign response, KMIP 1.4 §4.31. */
export const SignResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  signatureData: required(byteString(Tag.SignatureData)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})

/** Signature Verify request, KMIP 1.4 §4.32 (2.1 §6.1.44). */
export const SignatureVerifyRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(byteString(Tag.Data)),
  signatureData: input(byteString(Tag.SignatureData)),
  ...stream,
})
/** Signature Verify response, KMIP 1.4 §4.32. */
export const SignatureVerifyResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  validityIndicator: required(enumerated(Tag.ValidityIndicator)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})

/** MAC request, KMIP 1.4 §4.33 (2.1 §6.1.28). */
export const MACRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(byteString(Tag.Data)),
  ...stream,
})
/** MAC response, KMIP 1.4 §4.33. */
export const MACResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  macData: required(byteString(Tag.MACData)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})

/** MAC Verify request, KMIP 1.4 §4.34 (2.1 §6.1.29). */
export const MACVerifyRequest = struct(Tag.RequestPayload, {
  ...keyed,
  data: input(byteString(Tag.Data)),
  macData: input(byteString(Tag.MACData)),
  ...stream,
})
/** MAC Verify response, KMIP 1.4 §4.34. */
export const MACVerifyResponse = struct(Tag.ResponsePayload, {
  ...answeredBy,
  validityIndicator: required(enumerated(Tag.ValidityIndicator)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})

/** RNG Retrieve request, KMIP 1.4 §4.35 (2.1 §6.1.48). */
export const RNGRetrieveRequest = struct(Tag.RequestPayload, {
  dataLength: required(integer(Tag.DataLength)),
})
/** RNG Retrieve response, KMIP 1.4 §4.35. */
export const RNGRetrieveResponse = struct(Tag.ResponsePayload, {
  data: required(byteString(Tag.Data, { sensitive: true })),
})

/** Hash request, KMIP 1.4 §4.36 (2.1 §6.1.22): the Hashing Algorithm is in the parameters. */
export const HashRequest = struct(Tag.RequestPayload, {
  cryptographicParameters: required(CryptographicParameters),
  data: required(sensitiveData),
  ...stream,
})
/** Hash response, KMIP 1.4 §4.36. */
export const HashResponse = struct(Tag.ResponsePayload, {
  data: required(byteString(Tag.Data)),
  correlationValue: optional(byteString(Tag.CorrelationValue)),
})
