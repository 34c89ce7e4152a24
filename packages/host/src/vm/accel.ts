import { spawn } from 'node:child_process'
import { constants, accessSync, statSync, writeFileSync } from 'node:fs'
import { release } from 'node:os'
import { join } from 'node:path'
import { readFileBounded, writeFileAtomic } from '../util/files.js'

export type Accelerator = 'kvm' | 'tcg'

/** What the probe guest prints once it runs 64-bit code. */
export const PROBE_MARKER = 'WARD-OK'

/**
 * The probe guest: a 64 KiB firmware image that prints 'W' in real mode, enters protected mode,
 * sets up identity paging, enters long mode, prints "ARD-OK\n" on COM1 and exits QEMU through
 * isa-debug-exit. Where nested KVM hangs (at the first switch to protected mode, as a Linux
 * guest does after "Probing EDD"), only 'W' comes out. Assembled from this source with GNU as
 * (`as --64`, `ld -Ttext 0`, `objcopy -O binary`):
 *   .code16: cli; out 'W'; ds=0xF000; lgdtl gdtdesc; cr0|=PE; ljmpl $0x08,$(0xF0000+pm)
 *   .code32 pm: ds=es=ss=0x10; out 'A'; zero 0x1000..0x3fff; PML4[0]=0x2003; PDPT[0]=0x3003;
 *     PD[0]=0x83 (2 MiB page); cr4|=PAE; cr3=0x1000; EFER|=LME; cr0|=PG; ljmpl $0x18,$(0xF0000+lm)
 *   .code64 lm: out "RD-OK\n"; out 0x10 to port 0xf4; hlt
 *   gdt: null, 32-bit code (0x00CF9A000000FFFF), data (0x00CF92000000FFFF),
 *     64-bit code (0x00AF9A000000FFFF); at 0xFFF0: ljmp $0xF000,$0
 */
const PROBE_CODE =
  'fabaf803b057eeb800f08ed8660f0116e8000f20c06683c8010f22c066ea24000f00080066b810008ed88ec08e' +
  'd066baf803b041eebf0010000031c0b9000c0000f3abc7050010000003200000c7050020000003300000c70500' +
  '300000830000000f20e083c8200f22e0b8001000000f22d8b9800000c00f320d000100000f300f20c00d00000080' +
  '0f22c0ea92000f00180066baf803b052ee66baf803b044ee66baf803b02dee66baf803b04fee66baf803b04bee66' +
  'baf803b00aee66baf400b010eef4ebfd66900000000000000000ffff0000009acf00ffff00000092cf00ffff0000' +
  '009aaf001f00c8000f'
const RESET_VECTOR = 'ea000000f0'

export function probeImage(): Buffer {
  const img = Buffer.alloc(65536)
  Buffer.from(PROBE_CODE, 'hex').copy(img, 0)
  Buffer.from(RESET_VECTOR, 'hex').copy(img, 0xfff0)
  return img
}

export interface ProbeResult {
  readonly accelerator: Accelerator
  /** Why: "kvm probe printed in N ms", "/dev/kvm not usable", "kvm probe silent after N ms". */
  readonly reason: string
}

/** Run the probe guest under `accel` and report whether it printed the marker in time. */
export function runProbe(
  qemu: string,
  accel: Accelerator,
  image: string,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number }> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(
      qemu,
      [
        '-accel',
        accel,
        '-nodefaults',
        '-no-user-config',
        '-display',
        'none',
        '-no-reboot',
        '-m',
        '16',
        '-bios',
        image,
        '-serial',
        'stdio',
        '-device',
        'isa-debug-exit,iobase=0xf4,iosize=0x04',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    )
    let out = ''
    let done = false
    const finish = (ok: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      resolve({ ok, ms: Date.now() - t0 })
    }
    // a hung accelerator never hangs the caller: the probe is killed at the deadline
    const timer = setTimeout(() => finish(false), timeoutMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d: string) => {
      out += d
      if (out.includes(PROBE_MARKER)) finish(true)
      if (out.length > 4096) finish(false)
    })
    child.once('error', () => finish(false))
    child.once('close', () => finish(out.includes(PROBE_MARKER)))
  })
}

const CACHE_FILE = 'accelerator.json'

/**
 * KVM when /dev/kvm opens and the probe guest reaches long mode under KVM within `timeoutMs`,
 * else TCG. The verdict is cached in `cacheDir` for this QEMU binary and host kernel.
 */
export async function chooseAccelerator(o: {
  readonly qemu: string
  readonly cacheDir: string
  readonly runDir: string
  readonly timeoutMs?: number
  readonly kvmDevice?: string
}): Promise<ProbeResult> {
  const dev = o.kvmDevice ?? '/dev/kvm'
  let qemuId: string
  try {
    const st = statSync(o.qemu)
    qemuId = `${o.qemu} ${st.size} ${st.mtimeMs}`
  } catch {
    qemuId = o.qemu
  }
  const key = `${qemuId} | ${release()} | ${dev}`
  const cachePath = join(o.cacheDir, CACHE_FILE)
  try {
    const b = readFileBounded(cachePath, 4096)
    if (b) {
      const v = JSON.parse(b.toString('utf8')) as { key?: unknown; verdict?: ProbeResult }
      if (
        v.key === key &&
        (v.verdict?.accelerator === 'kvm' || v.verdict?.accelerator === 'tcg') &&
        typeof v.verdict.reason === 'string'
      )
        return { accelerator: v.verdict.accelerator, reason: `${v.verdict.reason} (cached)` }
    }
  } catch {
    // probe again
  }
  let verdict: ProbeResult
  try {
    accessSync(dev, constants.R_OK | constants.W_OK)
    const image = join(o.runDir, 'accel-probe.bin')
    writeFileSync(image, probeImage(), { mode: 0o600 })
    const timeoutMs = o.timeoutMs ?? 5000
    const r = await runProbe(o.qemu, 'kvm', image, timeoutMs)
    verdict = r.ok
      ? { accelerator: 'kvm', reason: `the KVM probe guest reached long mode in ${r.ms} ms` }
      : {
          accelerator: 'tcg',
          reason: `the KVM probe guest did not reach long mode within ${timeoutMs} ms (nested KVM?)`,
        }
  } catch {
    verdict = { accelerator: 'tcg', reason: `${dev} is not usable` }
  }
  try {
    writeFileAtomic(cachePath, `${JSON.stringify({ key, verdict })}\n`, 0o600)
  } catch {
    // the verdict stands for this run
  }
  return verdict
}
