/**
 * The center's mutual-TLS clients of its joined hosts, one per host (HostClient pools its
 * connections), made from the hosts table's address and the data dir's PKI.
 */
import type { Kysely } from 'kysely'
import type { Logger } from '@ward/core'
import { CenterError } from '../../errors.js'
import { HostClient, type HostClientOptions } from '../../hosts/client.js'
import type { CenterDb } from '../../store/schema.js'

export class HostLinks {
  readonly #db: Kysely<CenterDb>
  readonly #pki: HostClientOptions['pki'] | undefined
  readonly #log: Logger | undefined
  readonly #clients = new Map<string, { address: string; client: HostClient }>()

  constructor(db: Kysely<CenterDb>, pki: HostClientOptions['pki'] | undefined, log?: Logger) {
    this.#db = db
    this.#pki = pki
    this.#log = log
  }

  /** The client of host `hostId` (ERR_CENTER_NOT_FOUND when it is not in the inventory). */
  async client(hostId: string): Promise<HostClient> {
    const h = await this.#db
      .selectFrom('hosts')
      .select(['id', 'address'])
      .where('id', '=', hostId)
      .executeTakeFirst()
    if (h === undefined)
      throw new CenterError('ERR_CENTER_NOT_FOUND', `no host ${hostId}; list them to check the id`)
    if (this.#pki === undefined)
      throw new CenterError(
        'ERR_CENTER_PKI_MISSING',
        'this center has no PKI to reach hosts over mutual TLS; run ward center init on its data dir',
      )
    const known = this.#clients.get(hostId)
    if (known !== undefined && known.address === h.address) return known.client
    known?.client.close()
    const client = new HostClient({
      hostId,
      address: h.address,
      pki: this.#pki,
      ...(this.#log !== undefined ? { log: this.#log } : {}),
    })
    this.#clients.set(hostId, { address: h.address, client })
    return client
  }

  close(): void {
    for (const { client } of this.#clients.values()) client.close()
    this.#clients.clear()
  }
}
