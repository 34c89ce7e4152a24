/** Layout of a `ward kms` data directory (created by `ward kms init`). */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export const dataPaths = (dir: string) =>
  ({
    masterKey: join(dir, 'master.key'),
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    db: join(dir, 'kms.db'),
    audit: join(dir, 'audit.log'),
    runtime: join(dir, 'server.json'),
    clients: join(dir, 'clients.json'),
  }) as const

/**
 * The server recorded in `server.json` (see dataPaths().runtime) if its process is alive; a
 * missing or torn file, or the pid of a server that died, means none.
 */
export function runningServer(
  runtime: string,
): { host: string; port: number; pid: number } | undefined {
  let r: { host: string; port: number; pid: number }
  try {
    r = JSON.parse(readFileSync(runtime, 'utf8')) as typeof r
    process.kill(r.pid, 0)
  } catch {
    return undefined
  }
  return { host: r.host, port: r.port, pid: r.pid }
}
