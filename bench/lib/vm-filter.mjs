// The crypto filter in its own process, for bench/vm.mjs (as the host agent would run it):
// stdin gives one JSON line of options, then the 64-byte volume key (never argv or env). Prints
// READY when listening; at the end of stdin it closes and prints its stats as one JSON line.
const { serveEncryptedDisk } = await import(
  new URL('../../packages/host/dist/src/filter/index.js', import.meta.url).pathname
)
const input = await new Promise((resolve) => {
  let all = Buffer.alloc(0)
  const onData = (c) => {
    all = Buffer.concat([all, c])
    const nl = all.indexOf(10)
    if (nl >= 0 && all.length >= nl + 65) {
      process.stdin.off('data', onData)
      resolve(all)
    }
  }
  process.stdin.on('data', onData)
})
const nl = input.indexOf(10)
const o = JSON.parse(input.subarray(0, nl).toString())
const key = Buffer.from(input.subarray(nl + 1, nl + 65))
input.fill(0)
const server = await serveEncryptedDisk({ ...o, volumeKey: key })
key.fill(0)
process.stdout.write('READY\n')
process.stdin.on('end', async () => {
  await server.close()
  process.stdout.write(`${JSON.stringify(server.stats)}\n`)
  process.exit(0)
})
process.stdin.resume()
