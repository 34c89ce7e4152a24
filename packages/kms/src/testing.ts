/** Test and benchmark helpers (`@ward/kms/testing`). */
export {
  KmipTestClient,
  parseResponse,
  type BatchResult,
  type ClientTls,
} from './testing/client.js'
export { encodeTtlv, decodeTtlv, type TtlvItem } from './wire/ttlv.js'
export { Tag } from './wire/tags.js'
export * as items from './wire/items.js'
export * as enums from './wire/enums.js'
