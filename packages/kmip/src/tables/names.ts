/**
 * Normalises a spec name the way the KMIP XML and JSON encodings do (KMIP Profiles v1.4 §5.4.1.1
 * "Normalizing Names"): brackets become spaces, a non-word character followed by a letter then a lower-case
 * letter becomes a space, other non-word characters become `_`, words are capitalised and joined.
 * `"Cryptographic Algorithm"` → `CryptographicAlgorithm`, `"PKCS#1"` → `PKCS_1`.
 * (Same rule as scripts/gen-tables.mjs, which generated the tables.)
 */
export function normalizeName(name: string): string {
  const s = name
    .replace(/[()]/g, ' ')
    .replace(/[^A-Za-z0-9_\s](?=[A-Za-z][a-z])/g, ' ')
    .replace(/[^A-Za-z0-9_\s]/g, '_')
  return s
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')
    .replace(/^([0-9]+)(.*)$/, '$2$1') // "3DES" → "DES3", as the OASIS XML vectors write it
}
