import { invalidField } from '../errors.js'
import { LogRequest, LogResponse, Operation } from '@ward/kmip'
import { defineOperation } from './types.js'

/** Longest Log Message kept; longer ones are refused rather than cut, so nothing is lost silently. */
const MAX_LOG = 4096

/**
 * KMIP 2.1 §6.1.28 Log: the client asks the server to record a message. It goes to the server log
 * with the caller's identity and the request id (the audit stream records the call itself).
 */
export const log = defineOperation({
  code: Operation.Log,
  privilege: 'log',
  since: [2, 0],
  request: LogRequest,
  response: LogResponse,
  async handle(ctx, request) {
    const message = request.logMessage
    if (message.length > MAX_LOG)
      throw invalidField(`Log Message longer than ${MAX_LOG} characters`)
    ctx.log?.(message)
    return { payload: {} }
  },
})
