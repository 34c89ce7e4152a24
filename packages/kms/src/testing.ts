/** Test and benchmark helpers (`@ward/kms/testing`). The codec, tags and enums come from @ward/kmip. */
export {
  KmipTestClient,
  parseResponse,
  type BatchResult,
  type ClientTls,
} from './testing/client.js'
export { encodeTtlv, decodeTtlv, Tag, type TtlvItem } from '@ward/kmip'
export { createTestDb, type TestDb } from './testing/pg.js'
