// @ward/nbd public surface: the NBD protocol tables and codec, and the server.
export {
  MAGIC,
  HANDSHAKE_FLAG,
  CLIENT_FLAG,
  TRANSMISSION_FLAG,
  OPT,
  REP,
  INFO,
  CMD,
  CMD_FLAG,
  NBD_ERR,
  SIZE,
  nameOf,
  flagNames,
} from './protocol/constants.js'
export type { Opt, Rep, Cmd, NbdErrno } from './protocol/constants.js'
export { layout, encode, decode } from './protocol/layout.js'
export type { Layout, Field, Infer } from './protocol/layout.js'
export {
  ServerGreeting,
  ClientFlags,
  OptionHeader,
  OptionReplyHeader,
  ExportNameReply,
  InfoExport,
  InfoBlockSize,
  Request,
  SimpleReply,
} from './protocol/messages.js'
export { COMMANDS, checkRequest, commandRule } from './protocol/commands.js'
export type { CommandName, ExportLimits, RequestFields } from './protocol/commands.js'
export { NbdServer } from './server/server.js'
export type { NbdBackend } from './server/backend.js'
export { errnoOf } from './server/backend.js'
export type { NbdServerOptions, NbdEvent } from './server/options.js'
export { MAX_OPTION_DATA } from './server/connection.js'
export { MAX_SOCKET_PATH } from './server/socket-path.js'
export { NbdError, nbdErrors } from './errors.js'
export type { NbdErrorCode, NbdErrorOptions } from './errors.js'
