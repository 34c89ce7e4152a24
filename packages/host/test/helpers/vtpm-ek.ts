import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, mkdtempSync, readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { run } from './harness.js'

/**
 * The EK public (RSA 2048, default template) of a copy of a vTPM state folder, through swtpm +
 * tpm2-tools, as a SHA-256 hex digest; undefined when swtpm cannot load the state (with this
 * `keyFile` or without one: a state at rest is encrypted).
 */
export async function ekOf(
  state: string,
  work: string,
  keyFile: string | undefined,
): Promise<string | undefined> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer()
      srv.once('error', () => resolve(false))
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
    })
  const accepts = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const c = connect({ host: '127.0.0.1', port })
      c.once('connect', () => {
        c.destroy()
        resolve(true)
      })
      c.once('error', () => resolve(false))
    })
  const copy = mkdtempSync(join(work, 'ek-'))
  cpSync(state, copy, { recursive: true })
  let port = 0
  for (let i = 0; i < 50 && port === 0; i++) {
    const p = 20000 + 2 * Math.floor(Math.random() * 15000)
    if ((await free(p)) && (await free(p + 1))) port = p
  }
  const p = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--tpmstate',
      `dir=${copy}`,
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags',
      'not-need-init,startup-clear',
      ...(keyFile ? ['--key', `file=${keyFile},mode=aes-256-cbc,format=binary`] : []),
    ],
    { stdio: 'ignore' },
  )
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  try {
    // up: its port accepts; a state it cannot load: it exits
    for (let i = 0; i < 200 && p.exitCode === null && !(await accepts(port)); i++)
      await new Promise((r) => setTimeout(r, 50))
    if (p.exitCode !== null) return undefined
    const pub = join(copy, 'ek.pub')
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await run('tpm2_createek', ['-c', join(copy, 'ek.ctx'), '-G', 'rsa', '-u', pub], {
        TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${port}`,
      })
      if (r.code === 0) return createHash('sha256').update(readFileSync(pub)).digest('hex')
      if (p.exitCode !== null) return undefined
      await new Promise((res) => setTimeout(res, 500))
    }
    return undefined
  } finally {
    if (p.exitCode === null) p.kill('SIGKILL')
    await exited
  }
}
