/**
 * Payloads of the operations that change one attribute: Add (KMIP 1.4 §4.14), Modify (§4.15),
 * Delete (§4.16), Set (2.1 §6.1.49). 1.x carries an Attribute structure; 2.x wraps the attribute
 * in New Attribute / Current Attribute. Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import {
  attribute,
  attributeReference,
  integer,
  optional,
  repeated,
  required,
  struct,
  textString,
  v1Only,
  v2Only,
} from '../schema/dsl.js'

/** New Attribute, KMIP 2.1 §7.x: the attribute to add or set. */
export const NewAttribute = struct(Tag.NewAttribute, { attribute: required(attribute()) })
/** Current Attribute, KMIP 2.1 §7.x: the instance to modify or delete. */
export const CurrentAttribute = struct(Tag.CurrentAttribute, { attribute: required(attribute()) })

const target = { uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)) } as const
/** 1.x answers an attribute edit with the attribute as it now is (2.x with the identifier only). */
const edited = {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  attribute: v1Only(optional(attribute())),
} as const

/** Add Attribute request, KMIP 1.4 §4.14 (2.1 §6.1.2). */
export const AddAttributeRequest = struct(Tag.RequestPayload, {
  ...target,
  attribute: v1Only(required(attribute())),
  newAttribute: v2Only(required(NewAttribute)),
})
/** Add Attribute response, KMIP 1.4 §4.14. */
export const AddAttributeResponse = struct(Tag.ResponsePayload, edited)

/** Modify Attribute request, KMIP 1.4 §4.15 (2.1 §6.1.31). */
export const ModifyAttributeRequest = struct(Tag.RequestPayload, {
  ...target,
  attribute: v1Only(required(attribute())),
  currentAttribute: v2Only(optional(CurrentAttribute)),
  newAttribute: v2Only(required(NewAttribute)),
})
/** Modify Attribute response, KMIP 1.4 §4.15. */
export const ModifyAttributeResponse = struct(Tag.ResponsePayload, edited)

/** Set Attribute request, KMIP 2.1 §6.1.49. */
export const SetAttributeRequest = struct(Tag.RequestPayload, {
  ...target,
  newAttribute: required(NewAttribute),
})
/** Set Attribute response, KMIP 2.1 §6.1.49. */
export const SetAttributeResponse = struct(Tag.ResponsePayload, {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
})

/**
 * Delete Attribute request, KMIP 1.4 §4.16 (1.x: Attribute Name and Index) and 2.1 §6.1.16
 * (Current Attribute, or an Attribute Reference).
 */
export const DeleteAttributeRequest = struct(Tag.RequestPayload, {
  ...target,
  attributeName: v1Only(required(textString(Tag.AttributeName))),
  attributeIndex: v1Only(optional(integer(Tag.AttributeIndex))),
  currentAttribute: v2Only(optional(CurrentAttribute)),
  attributeReferences: v2Only(repeated(attributeReference())),
})
/** Delete Attribute response, KMIP 1.4 §4.16. */
export const DeleteAttributeResponse = struct(Tag.ResponsePayload, edited)
