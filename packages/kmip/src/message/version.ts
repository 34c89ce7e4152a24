/** KMIP protocol version (Protocol Version structure, KMIP 1.4 §6.1). */
export interface ProtocolVersion {
  readonly major: number
  readonly minor: number
}

/** The versions this package can speak, highest first (DiscoverVersions order). */
export const supportedVersions: readonly ProtocolVersion[] = [
  { major: 2, minor: 1 },
  { major: 2, minor: 0 },
  { major: 1, minor: 4 },
  { major: 1, minor: 3 },
  { major: 1, minor: 2 },
  { major: 1, minor: 1 },
  { major: 1, minor: 0 },
]

/** KMIP 2.x changed attribute encodings (Attributes instead of TemplateAttribute). */
export function isV2(v: ProtocolVersion): boolean {
  return v.major >= 2
}

/** Compares two versions (negative if a < b). */
export function compareVersions(a: ProtocolVersion, b: ProtocolVersion): number {
  return a.major - b.major || a.minor - b.minor
}

/** Parses "1.2" / "2.0". */
export function parseVersion(s: string): ProtocolVersion | undefined {
  const m = /^(\d)\.(\d)$/.exec(s)
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined
}
