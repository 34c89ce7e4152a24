/**
 * The center's clients of its joined hosts, by inventory id: the address comes from the hosts
 * table, the mutual-TLS credentials from the center's PKI. One HostClient (with its pooled
 * connections) per host, made again when the host's address changes.
 */
import type { Kysely } from 'kysely'
import type { Logger } from '@ward/core'
import { CenterError } from '../errors.js'
import { HostClient, type HostClientOptions } from '../hosts/client.js'
import type { CenterDb } from '../store/schema.js'

export interface HostClientsOptions {
  readonly db: Kysely<CenterDb>
  readonly pki: HostClientOptions['pki']
  readonly log?: Logger
  /** Per-call limits (tests shorten them). */
  readonly connectMs?: number
  readonly callMs?: number
}

export class HostClients {
  readonly #o: HostClientsOptions
  readonly #clients = new Map<string, HostClient>()
  constructor(o: HostClientsOptions) {
    this.#o = o
  }

  /** The client of host `hostId` (ERR_CENTER_NOT_FOUND when it is not in the inventory). */
  async get(hostId: string): Promise<HostClient> {
    const row = await this.#o.db
      .selectFrom('hosts')
      .select(['id', 'address'])
      .where('id', '=', hostId)
      .executeTakeFirst()
    if (row === undefined)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no host ${hostId} in the inventory; list the hosts to check the id`,
      )
    const c = this.#clients.get(hostId)
    if (c !== undefined && c.address === row.address) return c
    c?.close()
    const n = new HostClient({
      hostId,
      address: row.address,
      pki: this.#o.pki,
      ...(this.#o.log !== undefined ? { log: this.#o.log } : {}),
      ...(this.#o.connectMs !== undefined ? { connectMs: this.#o.connectMs } : {}),
      ...(this.#o.callMs !== undefined ? { callMs: this.#o.callMs } : {}),
    })
    this.#clients.set(hostId, n)
    return n
  }

  close(): void {
    for (const c of this.#clients.values()) c.close()
    this.#clients.clear()
  }
}
