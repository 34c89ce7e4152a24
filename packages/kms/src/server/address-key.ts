/**
 * The key a connection counts against for `--max-connections-per-address`: an IPv4 address as
 * it is (IPv4-mapped IPv6 `::ffff:a.b.c.d` included), an IPv6 address by its /64 prefix (one
 * host, or one customer of a provider, usually holds a whole /64: per /128 the cap would not
 * bound it).
 */
export function addressKey(addr: string): string {
  const a = addr.toLowerCase()
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7)
  if (!a.includes(':')) return a
  const bare = a.split('%')[0]!
  const [head = '', tail] = bare.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined
      ? h
      : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}
