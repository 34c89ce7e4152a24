import {
  DiscoverVersionsRequest,
  DiscoverVersionsResponse,
  Operation,
  decodeStructure,
  encodeStructure,
  supportedVersions as kmipVersions,
} from '@ward/kmip'
import { defineOperation } from './types.js'

/** Versions this server speaks, highest first (KMIP 1.4 §4.26): all that @ward/kmip speaks. */
export const supportedVersions: readonly (readonly [number, number])[] = kmipVersions.map((v) => [
  v.major,
  v.minor,
])

export const isSupportedVersion = (major: number, minor: number): boolean =>
  supportedVersions.some(([a, b]) => a === major && b === minor)

/** KMIP 1.4 §4.26 Discover Versions: the client's list intersected with ours, in its order. */
export const discoverVersions = defineOperation({
  code: Operation.DiscoverVersions,
  privilege: 'discover-versions',
  since: [1, 1],
  async run(ctx, payload) {
    const asked = decodeStructure(DiscoverVersionsRequest, payload, ctx).protocolVersions
    const out =
      asked.length === 0
        ? kmipVersions
        : asked.filter(({ major, minor }) => isSupportedVersion(major, minor))
    return { payload: encodeStructure(DiscoverVersionsResponse, { protocolVersions: out }, ctx) }
  },
})
