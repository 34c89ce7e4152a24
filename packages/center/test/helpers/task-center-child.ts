/*
 * A center in its own process, for the kill -9 tests: `node task-center-child.js DATA_DIR
 * KMS_PORT KMS_CLIENT_DIR PROVIDER_ID` opens the center of DATA_DIR with the test provider over
 * that `ward kms`, starts its task runner and prints "ready"; it runs until killed.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLogger } from '@ward/core'
import { createCenter } from '../../src/center.js'
import { loadCenterPki } from '../../src/pki/center-pki.js'
import { HostClients } from '../../src/tasks/hosts.js'
import { TestKmsProvider, testProviders, type TestKms } from './task-kms.js'

const [dataDir, port, clientDir, providerId] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
]
const kms: TestKms = {
  port: Number(port),
  tls: {
    ca: readFileSync(join(clientDir, 'ca.pem'), 'utf8'),
    cert: readFileSync(join(clientDir, 'center.crt'), 'utf8'),
    key: readFileSync(join(clientDir, 'center.key'), 'utf8'),
  },
  output: () => '',
  stop: async () => undefined,
}
const pki = await loadCenterPki(dataDir)
const ref: { clients?: HostClients } = {}
const center = await createCenter({
  dataDir,
  logger: createLogger('center'),
  tasks: {
    providers: testProviders([new TestKmsProvider(providerId, kms, () => ref.clients!)]),
    retryMs: 200,
    maxRetryMs: 1000,
  },
})
ref.clients = new HostClients({ db: center.store.db, pki })
center.tasks.start()
process.stdout.write('ready\n')
// the runner's timer does not hold the process: this does, until the test kills it
setInterval(() => undefined, 1 << 30)
