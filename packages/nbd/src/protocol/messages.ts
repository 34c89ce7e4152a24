import { INFO, MAGIC } from './constants.js'
import { const16, const32, const64, layout, u16, u32, u64, u64n } from './layout.js'

/** "Newstyle negotiation": S: NBDMAGIC, IHAVEOPT, 16 bits handshake flags. */
export const ServerGreeting = layout('server greeting', {
  magic: const64(MAGIC.NBDMAGIC),
  newstyle: const64(MAGIC.IHAVEOPT),
  handshakeFlags: u16,
})

/** "Newstyle negotiation": C: 32 bits client flags. */
export const ClientFlags = layout('client flags', { flags: u32 })

/** "Newstyle negotiation": C: IHAVEOPT, 32 bits option, 32 bits length of option data. */
export const OptionHeader = layout('option header', {
  magic: const64(MAGIC.IHAVEOPT),
  option: u32,
  length: u32,
})

/** "Fixed newstyle negotiation": S: reply magic, option, reply type, 32 bits length of reply data. */
export const OptionReplyHeader = layout('option reply header', {
  magic: const64(MAGIC.OPTION_REPLY),
  option: u32,
  type: u32,
  length: u32,
})

/** NBD_OPT_EXPORT_NAME's reply: 64 bits size, 16 bits transmission flags (then 124 zeroes, unless NO_ZEROES). */
export const ExportNameReply = layout('export name reply', { size: u64n, flags: u16 })

/** NBD_REP_INFO payload NBD_INFO_EXPORT: 16 bits type, 64 bits size, 16 bits transmission flags. */
export const InfoExport = layout('NBD_INFO_EXPORT', {
  info: const16(INFO.EXPORT),
  size: u64n,
  flags: u16,
})

/** NBD_REP_INFO payload NBD_INFO_BLOCK_SIZE: type, minimum, preferred, maximum payload (32 bits each). */
export const InfoBlockSize = layout('NBD_INFO_BLOCK_SIZE', {
  info: const16(INFO.BLOCK_SIZE),
  minimum: u32,
  preferred: u32,
  maximum: u32,
})

/** "Request message": magic, 16 bits command flags, 16 bits type, 64 bits cookie, offset, 32 bits length. */
export const Request = layout('request', {
  magic: const32(MAGIC.REQUEST),
  flags: u16,
  type: u16,
  cookie: u64,
  offset: u64n,
  length: u32,
})

/** "Simple reply message": magic, 32 bits error, 64 bits cookie (then READ data when error is 0). */
export const SimpleReply = layout('simple reply', {
  magic: const32(MAGIC.SIMPLE_REPLY),
  error: u32,
  cookie: u64,
})
