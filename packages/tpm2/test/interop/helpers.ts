// Shared set-up for interop tests: a fresh swtpm per test file (own CA, own temp dir), and
// tpm2-tools runs that first release Ward's connection (swtpm serves one client at a time).
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  manufactureSwtpm,
  startSwtpm,
  type ManufacturedSwtpm,
  type RunningSwtpm,
} from '../../src/testing/index.js'

const exec = promisify(execFile)

export interface Lab {
  readonly dir: string
  readonly made: ManufacturedSwtpm
  readonly sw: RunningSwtpm
  /** run a tpm2-tools program against this swtpm; returns stdout */
  tool(cmd: string, args: readonly string[]): Promise<string>
  /** write a file in the lab dir and return its path */
  file(name: string, data: Uint8Array | string): Promise<string>
  close(): Promise<void>
}

export async function openLab(): Promise<Lab> {
  const dir = await mkdtemp(join(tmpdir(), 'ward-tpm2-'))
  const made = await manufactureSwtpm(join(dir, 'tpm'), { caDir: join(dir, 'ca') })
  const sw = await startSwtpm({ dir: join(dir, 'tpm') })
  return {
    dir,
    made,
    sw,
    async tool(cmd, args) {
      await sw.transport.close()
      const { stdout } = await exec(cmd, [...args], {
        env: { ...process.env, TPM2TOOLS_TCTI: sw.tcti },
        timeout: 60_000,
      })
      return stdout
    },
    async file(name, data) {
      const p = join(dir, name)
      await writeFile(p, data)
      return p
    },
    async close() {
      await sw.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export async function run(
  cmd: string,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string }> {
  return exec(cmd, [...args], { timeout: 60_000 })
}
