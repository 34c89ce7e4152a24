/**
 * Payloads of the operations that find and read objects: Locate, Get, Get Attributes, Get
 * Attribute List (KMIP 1.4 §4.9, §4.11-4.13; 2.1 §6.1.19-21, §6.1.27). Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import {
  attributeReference,
  attributes,
  enumerated,
  integer,
  item,
  optional,
  repeated,
  required,
  struct,
  textString,
} from '../schema/dsl.js'
import { KeyWrappingSpecification, objectTags } from './structures.js'

/** Locate request, KMIP 1.4 §4.9: 1.x Attribute structures, 2.x one Attributes structure. */
export const LocateRequest = struct(Tag.RequestPayload, {
  maximumItems: optional(integer(Tag.MaximumItems)),
  offsetItems: optional(integer(Tag.OffsetItems)),
  storageStatusMask: optional(integer(Tag.StorageStatusMask)),
  objectGroupMember: optional(enumerated(Tag.ObjectGroupMember)),
  attributes: optional(attributes('list')),
})
/** Locate response, KMIP 1.4 §4.9 (Located Items since 1.3). */
export const LocateResponse = struct(Tag.ResponsePayload, {
  locatedItems: optional(integer(Tag.LocatedItems)),
  uniqueIdentifiers: repeated(textString(Tag.UniqueIdentifier)),
})

/** Get request, KMIP 1.4 §4.11 (2.1 §6.1.19). */
export const GetRequest = struct(Tag.RequestPayload, {
  uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)),
  keyFormatType: optional(enumerated(Tag.KeyFormatType)),
  keyWrapType: optional(enumerated(Tag.KeyWrapType)),
  keyCompressionType: optional(enumerated(Tag.KeyCompressionType)),
  keyWrappingSpecification: optional(KeyWrappingSpecification),
})
/** Get response, KMIP 1.4 §4.11: the object structure as a whole. */
export const GetResponse = struct(Tag.ResponsePayload, {
  objectType: required(enumerated(Tag.ObjectType)),
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  object: required(item(objectTags, 'Structure')),
})

/** Get Attributes request, KMIP 1.4 §4.12: 1.x Attribute Names, 2.x Attribute References. */
export const GetAttributesRequest = struct(Tag.RequestPayload, {
  uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)),
  attributeNames: repeated(attributeReference()),
})
/** Get Attributes response, KMIP 1.4 §4.12: 1.x Attribute structures, 2.x one Attributes. */
export const GetAttributesResponse = struct(Tag.ResponsePayload, {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  attributes: optional(attributes('list')),
})

/** Get Attribute List request, KMIP 1.4 §4.13. */
export const GetAttributeListRequest = struct(Tag.RequestPayload, {
  uniqueIdentifier: optional(textString(Tag.UniqueIdentifier)),
})
/** Get Attribute List response, KMIP 1.4 §4.13: 1.x Attribute Names, 2.x Attribute References. */
export const GetAttributeListResponse = struct(Tag.ResponsePayload, {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  attributeNames: repeated(attributeReference()),
})
