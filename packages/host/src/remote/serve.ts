import type { Server } from 'node:tls'
import { isCodedError, type Logger } from '@ward/core'
import type { HostAgent } from '../agent/agent.js'
import { loadRemoteCredentials } from './join-state.js'
import { listenRemote, type RemoteListenerOptions } from './listener.js'

/**
 * `ward host serve`'s listener for the center, when the host joined one (undefined otherwise).
 * A listener that cannot start (port taken, join files damaged) is logged with its code and the
 * agent runs without it: the host keeps running its VMs rather than not booting at all.
 */
export async function listenForCenter(
  agent: HostAgent,
  dataDir: string,
  log: Logger,
  options: RemoteListenerOptions = {},
): Promise<Server | undefined> {
  try {
    const creds = loadRemoteCredentials(dataDir)
    if (!creds) return undefined
    const server = await listenRemote(agent, creds, log, options)
    log.info(
      { listen: creds.state.listen, hostId: creds.state.hostId, center: creds.state.center },
      'listening for the center (mutual TLS)',
    )
    return server
  } catch (e) {
    if (!isCodedError(e)) throw e
    log.error({ code: e.code }, `not listening for the center: ${e.message}`)
    return undefined
  }
}
