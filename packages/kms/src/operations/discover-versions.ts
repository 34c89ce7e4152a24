import { Operation, children, int, s, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'

/** Versions this server speaks, highest first (KMIP 1.4 §4.26). */
export const supportedVersions: readonly (readonly [number, number])[] = [
  [2, 1],
  [2, 0],
  [1, 4],
  [1, 3],
  [1, 2],
  [1, 1],
  [1, 0],
]

export const isSupportedVersion = (major: number, minor: number): boolean =>
  supportedVersions.some(([a, b]) => a === major && b === minor)

const pv = ([major, minor]: readonly [number, number]) =>
  s(Tag.ProtocolVersion, [
    int(Tag.ProtocolVersionMajor, major),
    int(Tag.ProtocolVersionMinor, minor),
  ])

/** KMIP 1.4 §4.26 Discover Versions: the client's list intersected with ours, in its order. */
export const discoverVersions = defineOperation({
  code: Operation.DiscoverVersions,
  privilege: 'discover-versions',
  since: [1, 1],
  async run(_ctx, payload) {
    const asked =
      payload === undefined ? [] : children(payload).filter((c) => c.tag === Tag.ProtocolVersion)
    const wanted = asked.map((p) => {
      const c = children(p)
      const major = c.find((x) => x.tag === Tag.ProtocolVersionMajor)?.value
      const minor = c.find((x) => x.tag === Tag.ProtocolVersionMinor)?.value
      return [Number(major), Number(minor)] as const
    })
    const out =
      wanted.length === 0 ? supportedVersions : wanted.filter(([a, b]) => isSupportedVersion(a, b))
    return { payload: s(Tag.ResponsePayload, out.map(pv)) }
  },
})
