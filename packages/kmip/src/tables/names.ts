/**
 * Normalises a spec name the way the KMIP XML and JSON encodings do (KMIP Profiles v1.4 §5.4.1.1
 * "Normalizing Names"): brackets become spaces, a non-word character before a digit becomes `_`,
 * other non-word characters become spaces, words are capitalised and joined.
 * `"Cryptographic Algorithm"` → `CryptographicAlgorithm`, `"PKCS#1"` → `PKCS_1`.
 * (Same rule as scripts/gen-tables.mjs, which generated the tables.)
 */
export function normalizeName(name: string): string {
  const s = name
    .replace(/[()]/g, ' ')
    .replace(/[^A-Za-z0-9_\s](?=[0-9])/g, '_')
    .replace(/[^A-Za-z0-9_\s]/g, ' ')
  return s
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')
}
