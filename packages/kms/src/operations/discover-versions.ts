import {
  DiscoverVersionsRequest,
  DiscoverVersionsResponse,
  Operation,
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
  request: DiscoverVersionsRequest,
  response: DiscoverVersionsResponse,
  async handle(_ctx, request) {
    const asked = request.protocolVersions
    const out =
      asked.length === 0
        ? kmipVersions
        : asked.filter(({ major, minor }) => isSupportedVersion(major, minor))
    return { payload: { protocolVersions: out } }
  },
})
