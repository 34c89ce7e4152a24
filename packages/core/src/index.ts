export {
  CodedError,
  WardError,
  ConfigError,
  SecretDisposedError,
  SecretFileError,
  isCodedError,
  errorKinds,
  coreErrors,
  type CoreErrorCode,
  type ErrorInfo,
  type ErrorKind,
} from './errors.js'
export { Secret } from './secret.js'
export { readSecretFile, writeSecretFile, type ReadSecretFileOptions } from './secret-file.js'
export { writeFileAtomic, fsyncDir, type WriteFileAtomicOptions } from './atomic-file.js'
export {
  createLogger,
  chooseLogFormat,
  formatLogLine,
  LOG_FORMAT_ENV,
  type LogFormat,
  type Logger,
  type LoggerOptions,
} from './logger.js'
export {
  loadConfig,
  printableConfig,
  type ConfigSchema,
  type ConfigOf,
  type FieldSpec,
  type LoadConfigOptions,
} from './config.js'
export { toHex, fromHex, zero } from './bytes.js'
