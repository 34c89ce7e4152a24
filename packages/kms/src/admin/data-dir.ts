/** Layout of a `ward kms` data directory (created by `ward kms init`). */
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
