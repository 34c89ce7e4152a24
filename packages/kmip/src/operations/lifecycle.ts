/**
 * Payloads of the operations that make objects and move them through their lifecycle (KMIP 1.4
 * §4.1-4.4, §4.10, §4.19-4.21; 2.1 §6.1). Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import {
  attributes,
  dateTime,
  enumerated,
  integer,
  interval,
  item,
  longInteger,
  optional,
  required,
  struct,
  textString,
} from '../schema/dsl.js'
import { RevocationReason, objectTags } from './structures.js'

/** The Unique Identifier of the target; absent: the batch's ID Placeholder (1.4 §2.1.4). */
const target = { uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)) } as const
/** The answer of most lifecycle operations: the object's Unique Identifier. */
const identified = { uniqueIdentifier: required(textString(Tag.UniqueIdentifier)) } as const

/** Create request, KMIP 1.4 §4.1 (2.1 §6.1.8). */
export const CreateRequest = struct(Tag.RequestPayload, {
  objectType: required(enumerated(Tag.ObjectType)),
  attributes: optional(attributes('template')),
})
/** Create response, KMIP 1.4 §4.1. */
export const CreateResponse = struct(Tag.ResponsePayload, {
  objectType: required(enumerated(Tag.ObjectType)),
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
})

/** Create Key Pair request, KMIP 1.4 §4.2 (2.1 §6.1.9). */
export const CreateKeyPairRequest = struct(Tag.RequestPayload, {
  commonAttributes: optional(attributes('common')),
  privateKeyAttributes: optional(attributes('private')),
  publicKeyAttributes: optional(attributes('public')),
})
/** Create Key Pair response, KMIP 1.4 §4.2. */
export const CreateKeyPairResponse = struct(Tag.ResponsePayload, {
  privateKeyUniqueIdentifier: required(textString(Tag.PrivateKeyUniqueIdentifier)),
  publicKeyUniqueIdentifier: required(textString(Tag.PublicKeyUniqueIdentifier)),
})

/** Register request, KMIP 1.4 §4.3 (2.1 §6.1.47). */
export const RegisterRequest = struct(Tag.RequestPayload, {
  objectType: required(enumerated(Tag.ObjectType)),
  attributes: optional(attributes('template')),
  /** The object (Symmetric Key, Certificate...), its tag matching the Object Type. */
  object: optional(item(objectTags)),
})
/** Register response, KMIP 1.4 §4.3. */
export const RegisterResponse = struct(Tag.ResponsePayload, identified)

/** Re-key request, KMIP 1.4 §4.4 (2.1 §6.1.46). */
export const ReKeyRequest = struct(Tag.RequestPayload, {
  ...target,
  offset: optional(interval(Tag.Offset)),
  attributes: optional(attributes('template')),
})
/** Re-key response, KMIP 1.4 §4.4. */
export const ReKeyResponse = struct(Tag.ResponsePayload, identified)

/** Check request, KMIP 1.4 §4.10 (2.1 §6.1.4). */
export const CheckRequest = struct(Tag.RequestPayload, {
  ...target,
  usageLimitsCount: optional(longInteger(Tag.UsageLimitsCount)),
  cryptographicUsageMask: optional(integer(Tag.CryptographicUsageMask)),
  leaseTime: optional(interval(Tag.LeaseTime)),
})
/** Check response, KMIP 1.4 §4.10 (the other fields come only with a failed check). */
export const CheckResponse = struct(Tag.ResponsePayload, identified)

/** Activate request, KMIP 1.4 §4.19 (2.1 §6.1.1). */
export const ActivateRequest = struct(Tag.RequestPayload, target)
/** Activate response, KMIP 1.4 §4.19. */
export const ActivateResponse = struct(Tag.ResponsePayload, identified)

/** Revoke request, KMIP 1.4 §4.20 (2.1 §6.1.50). */
export const RevokeRequest = struct(Tag.RequestPayload, {
  ...target,
  revocationReason: required(RevocationReason),
  compromiseOccurrenceDate: optional(dateTime(Tag.CompromiseOccurrenceDate)),
})
/** Revoke response, KMIP 1.4 §4.20. */
export const RevokeResponse = struct(Tag.ResponsePayload, identified)

/** Destroy request, KMIP 1.4 §4.21 (2.1 §6.1.17). */
export const DestroyRequest = struct(Tag.RequestPayload, target)
/** Destroy response, KMIP 1.4 §4.21. */
export const DestroyResponse = struct(Tag.ResponsePayload, identified)
