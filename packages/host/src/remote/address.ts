import { isIP } from 'node:net'
import { HostError } from '../errors.js'
import { DEFAULT_REMOTE_PORT } from './identity.js'

/** `HOST:PORT`, `[V6]:PORT` or `HOST` (port 8443) → host and port; ERR_HOST_BAD_ARGUMENT otherwise. */
export function parseHostPort(
  value: string,
  what: string,
  allowZero = false,
): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(value)
  const host = m?.[1] ?? m?.[2]
  const port = m?.[3] === undefined ? DEFAULT_REMOTE_PORT : Number(m[3])
  if (
    m === null ||
    host === undefined ||
    (m[1] !== undefined && isIP(host) !== 6) ||
    port > 65535 ||
    (port === 0 && !allowZero)
  )
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `${what} must be HOST:PORT or [IPV6]:PORT (port 1-65535), not '${value.slice(0, 80)}'`,
    )
  return { host, port }
}

/** `host:port`, with brackets around an IPv6 address. */
export const formatHostPort = (host: string, port: number): string =>
  `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
