// Public surface of @ward/tpm2 (named re-exports only). See README.md for the API guide.
export {
  TpmError,
  TpmDecodeError,
  TpmResponseError,
  tpmErrors,
  type RcSubject,
  type TpmErrorCode,
} from './errors.js'
export {
  TPM_CC,
  TPM_ST,
  TPM_ALG,
  TPM_ECC,
  TPM_RH,
  TPM_HT,
  TPM_RC,
  TPM_SU,
  TPM_SE,
  TPM_CAP,
  TPM_PT,
  TPMA_OBJECT,
  TPMA_SESSION,
  TPMA_NV,
  TPM_EO,
  TPM_NT,
  nvType,
  TPM_GENERATED_VALUE,
} from './constants.js'
export {
  u8,
  u16,
  u32,
  u64,
  constant,
  tpm2b,
  bytes8,
  raw,
  sized,
  struct,
  list,
  union,
  empty,
  type Field,
  type Infer,
  type Input,
} from './marshal/dsl.js'
export { encode, decode, decodeFrom, Reader, Writer, type Limits } from './marshal/codec.js'
export * as structures from './structures/all.js'
export * as commands from './commands/commands.js'
export {
  command,
  type CommandDef,
  type CommandArgs,
  type CommandResult,
} from './commands/command.js'
export { Tpm, objectName, type RunOptions } from './tpm.js'
export { PasswordSession, Session, type AuthSession } from './session/session.js'
export { kdfA, kdfE, type HashName } from './crypto/kdf.js'
export { toPublicKey, type PublicArea } from './crypto/public-key.js'
export { encryptSeed } from './crypto/secret.js'
export type { Transport } from './transports/transport.js'
export {
  SwtpmTransport,
  SwtpmControl,
  parseSwtpmSpec,
  type SwtpmAddress,
} from './transports/swtpm.js'
export { DeviceTransport } from './transports/device.js'
export { ScriptedTransport, type ScriptStep } from './transports/scripted.js'
export { openTpm } from './open.js'
export { startup, shutdownTpm, powerCycle } from './ops/power.js'
export {
  getRandom,
  listHandles,
  getProperties,
  flush,
  persistObject,
  evictPersistent,
  type HandleKind,
} from './ops/basic.js'
export {
  pcrSelection,
  selectedPcrs,
  readPcrs,
  extendPcr,
  pcrEvent,
  extendDigest,
  BANK_ALG,
  PCR_COUNT,
  type Bank,
} from './ops/pcr.js'
export {
  startSession,
  withSession,
  policyPcr,
  policySecret,
  policyGetDigest,
  policyNv,
  policyNvDigest,
  policyPcrDigest,
  policySecretDigest,
  type NvCondition,
  type StartSessionOptions,
} from './ops/session.js'
export {
  createPrimary,
  readPublic,
  withSrk,
  withEk,
  withKey,
  create,
  load,
  PERSISTENT,
  type LoadedKey,
} from './ops/keys.js'
export {
  EK_RSA_TEMPLATE,
  EK_ECC_TEMPLATE,
  SRK_ECC_TEMPLATE,
  AK_RSA_TEMPLATE,
  AK_ECC_TEMPLATE,
  EK_POLICY,
  sealedObjectTemplate,
  type PublicTemplate,
} from './ops/templates.js'
export {
  seal,
  unseal,
  encodeSealedBlob,
  decodeSealedBlob,
  MAX_SEALED_BYTES,
  type SealedBlob,
} from './ops/seal.js'
export {
  nvDefine,
  nvUndefine,
  nvReadPublic,
  nvWrite,
  nvRead,
  nvDefineCounter,
  nvIncrement,
  nvReadCounter,
  NV_CHUNK,
  NV_DEFAULT_ATTRIBUTES,
  NV_COUNTER_ATTRIBUTES,
  type NvAuth,
} from './ops/nv.js'
export { readEkCertificate, EK_CERT_INDEX } from './ops/ek.js'
export { quote, verifyQuote, type QuoteResult } from './ops/quote.js'
export { makeCredential, activateCredential } from './ops/credential.js'
export {
  EV,
  SPEC_ID_SIGNATURE,
  STARTUP_LOCALITY_SIGNATURE,
  type SpecIdEvent,
  type PcrEvent,
  type EventLog,
} from './eventlog/types.js'
export { parseEventLog, type EventLogLimits } from './eventlog/parse.js'
export { EventLogWriter, measure } from './eventlog/write.js'
export { replayEventLog } from './eventlog/replay.js'
