/**
 * The one swtpm launcher (`@ward/tpm2/testing`): manufacture a software TPM with EK certificates
 * from a private swtpm-localca, and run it on free loopback ports. Used by the tests of every
 * package and by the benchmarks; follows the recipe proven in swtpm_setup(8), swtpm(8) and
 * swtpm_localca(8) (Debian swtpm 0.7).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { TpmError } from '../errors.js'
import { powerCycle, shutdownTpm } from '../ops/power.js'
import { Tpm } from '../tpm.js'
import { SwtpmControl, SwtpmTransport } from '../transports/swtpm.js'

const run = promisify(execFile)

export interface SwtpmCa {
  /** directory holding the CA's keys and swtpm_setup configuration */
  readonly dir: string
  /** self-signed root (CN=swtpm-localca-rootca): trust this as the TPM manufacturer */
  readonly rootCert: string
  /** intermediate (CN=swtpm-localca) that signs EK and platform certificates */
  readonly issuerCert: string
}

export interface ManufacturedSwtpm {
  readonly dir: string
  readonly stateDir: string
  readonly ca: SwtpmCa
  /** EK certificates written by swtpm_setup (also in NV 0x01C00002 / 0x01C00016) */
  readonly ekCertRsa: string
  readonly ekCertEcc: string
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  )
}

/** Write the private swtpm_setup/swtpm_localca configuration (nothing under /etc or /var/lib). */
export async function prepareSwtpmCa(dir: string): Promise<SwtpmCa> {
  const d = resolve(dir)
  await mkdir(d, { recursive: true, mode: 0o700 })
  const conf = join(d, 'swtpm_setup.conf')
  if (!(await exists(conf))) {
    await writeFile(
      join(d, 'swtpm-localca.conf'),
      `statedir = ${d}\nsigningkey = ${d}/signkey.pem\nissuercert = ${d}/issuercert.pem\ncertserial = ${d}/certserial\n`,
    )
    await writeFile(
      join(d, 'swtpm-localca.options'),
      '--platform-manufacturer Ward\n--platform-version 1.0\n--platform-model WardSimHost\n',
    )
    await writeFile(
      conf,
      `create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = ${d}/swtpm-localca.conf\ncreate_certs_tool_options = ${d}/swtpm-localca.options\nactive_pcr_banks = sha256\n`,
    )
  }
  return {
    dir: d,
    rootCert: join(d, 'swtpm-localca-rootca-cert.pem'),
    issuerCert: join(d, 'issuercert.pem'),
  }
}

/**
 * Manufacture a TPM in `dir` (state in dir/state): RSA-2048 and ECC EKs persisted at 0x81010001 /
 * 0x81010016, EK and platform certificates in NV, sha1+sha256 PCR banks. Reuses `caDir` (default
 * dir/ca) so many TPMs can share one manufacturer CA. Idempotent.
 */
export async function manufactureSwtpm(
  dir: string,
  o: { caDir?: string } = {},
): Promise<ManufacturedSwtpm> {
  const d = resolve(dir)
  const ca = await prepareSwtpmCa(o.caDir ?? join(d, 'ca'))
  const stateDir = join(d, 'state')
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  const out = {
    dir: d,
    stateDir,
    ca,
    ekCertRsa: join(d, 'ek-rsa2048.crt'),
    ekCertEcc: join(d, 'ek-secp384r1.crt'),
  }
  if (await exists(join(stateDir, 'tpm2-00.permall'))) return out
  try {
    await run(
      'swtpm_setup',
      [
        '--tpm2',
        '--tpmstate',
        stateDir,
        '--create-ek-cert',
        '--create-platform-cert',
        '--pcr-banks',
        'sha1,sha256',
        '--config',
        join(ca.dir, 'swtpm_setup.conf'),
        '--write-ek-cert-files',
        d,
        '--logfile',
        join(d, 'swtpm_setup.log'),
      ],
      { timeout: 120_000 },
    )
  } catch (e) {
    const log = await readFile(join(d, 'swtpm_setup.log'), 'utf8').catch(() => '')
    throw new TpmError(
      'ERR_TPM_SWTPM',
      `swtpm_setup failed (is swtpm-tools installed?): ${log.slice(-400)}`,
      {
        cause: e,
      },
    )
  }
  return out
}

/** A running swtpm process. */
export interface RunningSwtpm {
  /** `swtpm:127.0.0.1:PORT`, the address `ward host init --tpm` takes */
  readonly spec: string
  /** `swtpm:host=127.0.0.1,port=PORT`, the TPM2TOOLS_TCTI that points tpm2-tools at it */
  readonly tcti: string
  readonly port: number
  readonly ctrlPort: number
  readonly pid: number
  /** the one data-port transport to share (swtpm serves one client at a time) */
  readonly transport: SwtpmTransport
  readonly control: SwtpmControl
  /** a Tpm over `transport` */
  readonly tpm: Tpm
  /** host reboot: TPM2_Shutdown(CLEAR), CMD_INIT, TPM2_Startup(CLEAR); PCRs reset, NV kept */
  reboot(): Promise<void>
  /** orderly stop: TPM2_Shutdown, CMD_SHUTDOWN, wait for the process to exit */
  stop(): Promise<void>
  /** SIGKILL (a power cut) and wait for the exit */
  kill(): Promise<void>
}

const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await listenOnce(0)
    if (
      p < 65534 &&
      (await listenOnce(p + 1).then(
        () => true,
        () => false,
      ))
    )
      return p
  }
  throw new TpmError('ERR_TPM_SWTPM', 'no free pair of loopback ports for swtpm')
}

function listenOnce(port: number): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(port, '127.0.0.1', () => {
      const a = s.address()
      const p = typeof a === 'object' && a ? a.port : 0
      s.close(() => res(p))
    })
  })
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  // the child is unref'd (it must not keep Node alive), so hold a ref'd timer while waiting,
  // otherwise Node may exit with the promise still pending
  const keep = setInterval(() => undefined, 1000)
  return new Promise((r) =>
    child.once('exit', () => {
      clearInterval(keep)
      r()
    }),
  )
}

export interface StartSwtpmOptions {
  /** the TPM's folder: its state in dir/state, swtpm.pid and swtpm.log in dir */
  readonly dir: string
  /**
   * Start even when dir/state holds no TPM yet: swtpm then makes a blank one (no EK certificates,
   * which `manufactureSwtpm` writes), kept in dir/state for the next start. Default false: a
   * missing TPM is an error.
   */
  readonly allowUnmanufactured?: boolean
  /** how long swtpm may take to answer its control port (default 10 s) */
  readonly timeoutMs?: number
}

/** Start swtpm on `dir/state` with free ports; resolves once it accepts commands. */
export async function startSwtpm(o: StartSwtpmOptions): Promise<RunningSwtpm> {
  const d = resolve(o.dir)
  const stateDir = join(d, 'state')
  if (o.allowUnmanufactured === true) await mkdir(stateDir, { recursive: true, mode: 0o700 })
  else if (!(await exists(join(stateDir, 'tpm2-00.permall'))))
    throw new TpmError('ERR_TPM_SWTPM', `${stateDir} holds no TPM; run manufactureSwtpm first`)
  let lastErr: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePortPair()
    const child = spawn(
      'swtpm',
      [
        'socket',
        '--tpm2',
        '--tpmstate',
        `dir=${stateDir}`,
        '--server',
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        '--ctrl',
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags',
        'not-need-init,startup-clear',
        '--pid',
        `file=${join(d, 'swtpm.pid')}`,
        '--log',
        `file=${join(d, 'swtpm.log')},level=1`,
      ],
      { stdio: 'ignore' },
    )
    children.add(child)
    child.once('exit', () => children.delete(child))
    child.unref()
    try {
      await waitReady(child, port, o.timeoutMs ?? 10_000)
      return handle(child, port)
    } catch (e) {
      lastErr = e
      child.kill('SIGKILL')
      await exited(child)
    }
  }
  throw new TpmError(
    'ERR_TPM_SWTPM',
    `swtpm did not start: ${String((lastErr as Error)?.message)}`,
    {
      cause: lastErr,
    },
  )
}

async function waitReady(child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const ctrl = new SwtpmControl('127.0.0.1', port + 1, { timeoutMs: 1000 })
  const until = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new TpmError('ERR_TPM_SWTPM', `swtpm exited (code ${child.exitCode}) during start`)
    try {
      await ctrl.getTpmEstablished()
      return
    } catch (e) {
      if (Date.now() > until) throw e
      await new Promise((r) => setTimeout(r, 25))
    }
  }
}

function handle(child: ChildProcess, port: number): RunningSwtpm {
  const transport = new SwtpmTransport({ host: '127.0.0.1', port, ctrlPort: port + 1 })
  const control = new SwtpmControl('127.0.0.1', port + 1)
  const tpm = new Tpm(transport)
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL')
    await exited(child)
    await transport.close().catch(() => undefined)
  }
  return {
    spec: `swtpm:127.0.0.1:${port}`,
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    port,
    ctrlPort: port + 1,
    pid: child.pid!,
    transport,
    control,
    tpm,
    reboot: async () => {
      await powerCycle(tpm, control)
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      // bounded: if another client holds swtpm's single data connection, do not wait for it
      await shutdownTpm(tpm, AbortSignal.timeout(2000)).catch(() => undefined)
      await transport.close().catch(() => undefined)
      await control.shutdown().catch(() => undefined)
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited(child)
      clearTimeout(t)
    },
    kill,
  }
}
