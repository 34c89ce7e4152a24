// A crypto filter in its own process (the durability test kills it with SIGKILL): reads
// `{"path":..., "socketPath":...}\n` and then the 64-byte volume key on stdin (never argv or
// env), serves, prints READY on stdout, and stops at the end of stdin.
import { serveEncryptedDisk } from '../../src/filter/index.js'

const chunks: Buffer[] = []
let total = 0
const input = await new Promise<Buffer>((resolve) => {
  const onData = (c: Buffer): void => {
    chunks.push(c)
    total += c.length
    const all = Buffer.concat(chunks, total)
    const nl = all.indexOf(10)
    if (nl >= 0 && all.length >= nl + 1 + 64) {
      process.stdin.off('data', onData)
      resolve(all)
    }
  }
  process.stdin.on('data', onData)
})
const nl = input.indexOf(10)
const { path, socketPath } = JSON.parse(input.subarray(0, nl).toString()) as {
  path: string
  socketPath: string
}
const key = Buffer.from(input.subarray(nl + 1, nl + 65))
input.fill(0)
const server = await serveEncryptedDisk({ path, volumeKey: key, socketPath })
key.fill(0)
process.stdout.write('READY\n')
process.stdin.on('end', () => void server.close().then(() => process.exit(0)))
process.stdin.resume()
