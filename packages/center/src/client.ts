/**
 * The typed client of the API lives in `@ward/api`, generated from the OpenAPI document this
 * center serves; it is re-exported here for the center's own tools and tests.
 */
export {
  CenterClient,
  ApiError,
  type CallInput,
  type CallOutput,
  type ClientOptions,
} from '@ward/api'
