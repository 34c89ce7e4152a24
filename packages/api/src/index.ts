/**
 * `@ward/api`: the typed client of `ward center`'s REST API, generated from its OpenAPI document
 * (packages/api/openapi.json, written from the center's operation table by `npm run gen:api`).
 */
export { apiErrors, ApiClientError, type ApiErrorCode } from './errors.js'
export {
  CenterClient,
  ApiError,
  SESSION_HEADER,
  MAX_RESPONSE_BYTES,
  type ClientOptions,
  type CallInput,
  type CallOutput,
  type OperationId,
} from './client.js'
export { operations, type Operations } from './generated.js'
