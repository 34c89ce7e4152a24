import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { killGroup, spawnGroup } from '@ward/nbd/testing'

/**
 * The test guest: a small Linux built offline from Debian packages, for tests that boot real VMs.
 * Kernel: linux-image-cloud-amd64's /boot/vmlinuz-*-cloud-amd64. Initramfs (cpio newc, gzip):
 * busybox-static, the virtio modules the cloud kernel needs for a virtio-blk disk, and an /init
 * that mounts proc/sys/dev, loads them, prints READY_MARKER on the serial console (ttyS0), runs
 * the script given as `ward.cmd=<base64>` on the kernel command line (or, without it, one read from
 * the console up to a `WARD-END` line), prints `WARD-GUEST-EXIT <status>`, syncs and powers off.
 */

/** Printed by /init once modules are loaded and disks are there: "guest userspace is up". */
export const READY_MARKER = 'WARD-GUEST-READY'
/** Printed by /init when it wants the script on the console (no ward.cmd on the command line). */
export const SCRIPT_PROMPT = 'WARD-GUEST-SCRIPT?'
/** Ends a script sent over the console. */
export const SCRIPT_END = 'WARD-END'
const EXIT_RE = /WARD-GUEST-EXIT (\d+)/

/** Loaded in this order (dependencies first); virtio_pci_{modern,legacy}_dev exist from Linux 5.15. */
export const GUEST_MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'virtio_blk',
] as const

/**
 * Packed in /lib/modules but not loaded by /init: scripts load them (`insmod
 * /lib/modules/efivarfs.ko`, then mount efivarfs to read and set UEFI variables of an efi VM).
 */
export const GUEST_EXTRA_MODULES = ['efivarfs'] as const

/** Bumped whenever the initramfs layout or /init changes (part of the cache key). */
const FORMAT = 3

const INIT = `#!/bin/busybox sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in ${GUEST_MODULES.join(' ')}; do
  insmod /lib/modules/$m.ko || echo "WARD-GUEST-MODULE-FAILED $m"
done
arg() { sed -n "s/.*[[:space:]]$1=\\([^[:space:]]*\\).*/\\1/p" /proc/cmdline | head -n 1; }
disks=$(arg ward.disks)
if [ -n "$disks" ]; then
  i=0
  while [ "$(ls -d /sys/block/vd* 2>/dev/null | wc -l)" -lt "$disks" ] && [ $i -lt 500 ]; do
    sleep 0.01
    i=$((i + 1))
  done
fi
echo ${READY_MARKER}
cmd=$(arg ward.cmd)
if [ -n "$cmd" ]; then
  echo "$cmd" | base64 -d > /tmp/cmd.sh
else
  stty -echo < /dev/console 2>/dev/null
  echo ${SCRIPT_PROMPT}
  : > /tmp/cmd.sh
  while IFS= read -r line; do
    [ "$line" = "${SCRIPT_END}" ] && break
    echo "$line" >> /tmp/cmd.sh
  done < /dev/console
fi
sh /tmp/cmd.sh
echo "WARD-GUEST-EXIT $?"
sync
poweroff -f
`

export interface GuestImage {
  readonly kernel: string
  readonly initrd: string
  readonly kernelVersion: string
  /** sha256 of everything the initramfs was built from. */
  readonly key: string
}

export interface BuildGuestOptions {
  /** Where built initramfs images are kept (default: <tmpdir>/ward-guest-cache, made 0700). */
  readonly cacheDir?: string
  /** Kernel version to use (default: the newest /boot/vmlinuz-*-cloud-amd64). */
  readonly kernelVersion?: string
  readonly busybox?: string
  /** Initramfs compression (default gzip; `none` skips the guest's decompression under TCG). */
  readonly compression?: 'gzip' | 'none'
}

/** The test guest could not be built or started (a missing Debian package, most often). */
export class GuestError extends Error {
  readonly code = 'ERR_HOST_TEST_GUEST'
}

function newestCloudKernel(): string {
  const versions = readdirSync('/boot')
    .map((n) => /^vmlinuz-(.+-cloud-amd64)$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const v = versions.at(-1)
  if (v === undefined)
    throw new GuestError(
      'no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64 (scripts/install-peers.sh)',
    )
  return v
}

function findModule(root: string, name: string): string {
  const want = new Set([`${name}.ko`, `${name}.ko.xz`])
  const stack = [root]
  while (stack.length > 0) {
    const d = stack.pop()!
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) stack.push(join(d, e.name))
      else if (want.has(e.name)) return join(d, e.name)
    }
  }
  throw new GuestError(`module ${name} not found under ${root}`)
}

/** ELF with a PT_INTERP program header is dynamically linked: useless in a bare initramfs. */
function isStaticElf(b: Buffer): boolean {
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false
  const phoff = Number(b.readBigUInt64LE(0x20))
  const phentsize = b.readUInt16LE(0x36)
  const phnum = b.readUInt16LE(0x38)
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false
  return true
}

const run = (cmd: string, args: readonly string[]): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (e, out) =>
      e ? reject(e) : resolve(out),
    ),
  )

/** Applet names of this busybox binary (symlinked in the image: no `--install` at every boot). */
async function applets(busybox: string): Promise<string[]> {
  const out = (await run(busybox, ['--list'])).toString()
  return out.split('\n').filter((n) => /^[a-z0-9_.[-]+$/i.test(n) && n !== 'busybox')
}

const xzDecompress = (path: string): Promise<Buffer> =>
  new Promise((resolve, reject) =>
    execFile('xz', ['-dc', path], { encoding: 'buffer', maxBuffer: 64 << 20 }, (e, out) =>
      e ? reject(new GuestError(`xz -dc ${path}: ${e.message} (install xz-utils)`)) : resolve(out),
    ),
  )

/** A 0700 directory owned by us (created if missing); anything else is refused. */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const st = lstatSync(dir)
  if (!st.isDirectory() || st.uid !== process.getuid?.())
    throw new GuestError(`${dir} is not a directory owned by this user`)
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700)
}

interface Entry {
  readonly name: string
  readonly mode: number
  readonly data?: Buffer
  readonly rdev?: readonly [number, number]
}

/** cpio "newc" (SVR4, no CRC), as the kernel's initramfs unpacker reads it. */
export function cpioNewc(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = []
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4)
  const hex = (n: number): string => n.toString(16).padStart(8, '0')
  let ino = 1
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0)
    const name = Buffer.from(`${e.name}\0`)
    const isDir = (e.mode & 0o170000) === 0o040000
    const fields = [
      e.name === 'TRAILER!!!' ? 0 : ino++,
      e.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime: reproducible images
      data.length,
      0,
      0,
      e.rdev?.[0] ?? 0,
      e.rdev?.[1] ?? 0,
      name.length,
      0, // check
    ]
    const header = Buffer.from(`070701${fields.map(hex).join('')}`)
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length))
  }
  return Buffer.concat(parts)
}

/**
 * Build (or reuse from the cache) the test guest's initramfs. The cache key covers the kernel
 * version, every module's and busybox's bytes, /init and the format version, so a kernel or
 * busybox upgrade rebuilds it.
 */
export async function buildTestGuest(o: BuildGuestOptions = {}): Promise<GuestImage> {
  const kernelVersion = o.kernelVersion ?? newestCloudKernel()
  const kernel = `/boot/vmlinuz-${kernelVersion}`
  statSync(kernel)
  const busyboxPath = o.busybox ?? '/bin/busybox'
  const busybox = readFileSync(busyboxPath)
  if (!isStaticElf(busybox))
    throw new GuestError(
      `${busyboxPath} is not statically linked: install busybox-static (scripts/install-peers.sh)`,
    )
  const modRoot = `/lib/modules/${kernelVersion}/kernel`
  const modules: { name: string; path: string; raw: Buffer }[] = []
  for (const m of [...GUEST_MODULES, ...GUEST_EXTRA_MODULES]) {
    const path = findModule(modRoot, m)
    modules.push({ name: m, path, raw: readFileSync(path) })
  }
  const compression = o.compression ?? 'gzip'
  const h = createHash('sha256').update(
    `ward-test-guest ${FORMAT} ${compression}\n${kernelVersion}\n${INIT}`,
  )
  h.update(busybox)
  for (const m of modules) h.update(m.name).update(m.raw)
  const key = h.digest('hex')
  const cacheDir = o.cacheDir ?? join(tmpdir(), 'ward-guest-cache')
  privateDir(cacheDir)
  const initrd = join(
    cacheDir,
    `initrd-${key.slice(0, 32)}${compression === 'gzip' ? '.gz' : '.cpio'}`,
  )
  try {
    if (statSync(initrd).isFile()) return { kernel, initrd, kernelVersion, key }
  } catch {
    // not built yet
  }
  const entries: Entry[] = [
    ...['bin', 'dev', 'lib', 'lib/modules', 'proc', 'sys', 'tmp', 'run', 'mnt'].map((name) => ({
      name,
      mode: 0o040755,
    })),
    // the kernel opens /dev/console for init before devtmpfs is mounted
    { name: 'dev/console', mode: 0o020600, rdev: [5, 1] as const },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    ...(await applets(busyboxPath)).map((a) => ({
      name: `bin/${a}`,
      mode: 0o120777,
      data: Buffer.from('busybox'),
    })),
    { name: 'init', mode: 0o100755, data: Buffer.from(INIT) },
  ]
  for (const m of modules) {
    const data = m.path.endsWith('.xz') ? await xzDecompress(m.path) : m.raw
    entries.push({ name: `lib/modules/${m.name}.ko`, mode: 0o100644, data })
  }
  const tmp = `${initrd}.${randomBytes(6).toString('hex')}.tmp`
  const cpio = cpioNewc(entries)
  writeFileSync(tmp, compression === 'gzip' ? gzipSync(cpio, { level: 6 }) : cpio, {
    mode: 0o600,
    flag: 'wx',
  })
  renameSync(tmp, initrd)
  return { kernel, initrd, kernelVersion, key }
}

/** A virtio-blk disk for the guest: an NBD unix socket (the crypto filter's way) or a raw file. */
export type GuestDisk = { readonly nbdSocket: string } | { readonly rawFile: string }

export interface RunGuestOptions {
  /** Shell script the guest runs (busybox sh) after READY_MARKER. */
  readonly script: string
  readonly disks?: readonly GuestDisk[]
  /** Send the script over the serial console instead of the command line. */
  readonly scriptOverConsole?: boolean
  readonly memoryMb?: number
  /** Hard limit for the whole run; then QEMU's process group is SIGKILLed (default 120 s). */
  readonly timeoutMs?: number
  readonly qemu?: string
  /** Extra kernel command line. */
  readonly append?: string
  readonly extraArgs?: readonly string[]
  /** Called with each console line as it arrives. */
  readonly onLine?: (line: string) => void
}

export interface GuestRun {
  /** Everything on the serial console (CR removed). */
  readonly console: string
  /** What the script printed (between READY_MARKER and the exit line). */
  readonly output: string
  /** The script's exit status, when the guest got that far. */
  readonly status: number | undefined
  /** QEMU start to READY_MARKER on the console; undefined when it never came. */
  readonly readyMs: number | undefined
  readonly totalMs: number
  readonly timedOut: boolean
  readonly qemuExit: number | null
  readonly qemuStderr: string
}

/** qemu-system-x86_64 arguments for one run (TCG: nested KVM hangs on these machines). */
export function guestQemuArgs(image: GuestImage, o: RunGuestOptions): string[] {
  const disks = o.disks ?? []
  const cmd = o.scriptOverConsole ? '' : ` ward.cmd=${Buffer.from(o.script).toString('base64')}`
  const append = `console=ttyS0 quiet panic=-1 ward.disks=${disks.length}${cmd}${o.append ? ` ${o.append}` : ''}`
  if (Buffer.byteLength(append) > 2000)
    throw new GuestError(
      'kernel command line over 2000 bytes: use scriptOverConsole for long scripts',
    )
  const args = [
    '-accel',
    'tcg',
    '-m',
    String(o.memoryMb ?? 256),
    '-smp',
    '1',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    image.kernel,
    '-initrd',
    image.initrd,
    '-append',
    append,
  ]
  disks.forEach((d, i) => {
    const file =
      'nbdSocket' in d
        ? { driver: 'nbd', server: { type: 'unix', path: d.nbdSocket } }
        : { driver: 'file', filename: d.rawFile }
    args.push('-blockdev', JSON.stringify({ driver: 'raw', 'node-name': `disk${i}`, file }))
    args.push('-device', `virtio-blk-pci,drive=disk${i}`)
  })
  return [...args, ...(o.extraArgs ?? [])]
}

/**
 * Boot the test guest under QEMU (TCG), run `script`, and wait for it to power off. Never hangs:
 * after `timeoutMs` QEMU's whole process group is SIGKILLed and the run reports `timedOut`.
 */
export function runTestGuest(image: GuestImage, o: RunGuestOptions): Promise<GuestRun> {
  const start = performance.now()
  const args = guestQemuArgs(image, o)
  return new Promise((resolve, reject) => {
    const child = spawnGroup(o.qemu ?? 'qemu-system-x86_64', args)
    let text = ''
    let pending = ''
    let readyMs: number | undefined
    let timedOut = false
    let stderr = ''
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => {
      const s = chunk.replace(/\r/g, '')
      text += s
      pending += s
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (readyMs === undefined && line.includes(READY_MARKER))
          readyMs = performance.now() - start
        if (o.scriptOverConsole && line.includes(SCRIPT_PROMPT))
          child.stdin!.write(`${o.script.replace(/\n?$/, '\n')}${SCRIPT_END}\n`)
        o.onLine?.(line)
      }
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (c: string) => {
      if (stderr.length < 65536) stderr += c
    })
    child.stdin!.on('error', () => undefined)
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, o.timeoutMs ?? 120_000)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(new GuestError(`cannot start QEMU: ${e.message} (install qemu-system-x86)`))
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      const m = EXIT_RE.exec(text)
      const readyAt = text.indexOf(READY_MARKER)
      const body =
        readyAt < 0 ? '' : text.slice(text.indexOf('\n', readyAt) + 1, m?.index ?? text.length)
      resolve({
        console: text,
        output: body.startsWith(`${SCRIPT_PROMPT}\n`) ? body.slice(SCRIPT_PROMPT.length + 1) : body,
        status: m === null ? undefined : Number(m[1]),
        readyMs,
        totalMs: performance.now() - start,
        timedOut,
        qemuExit: code,
        qemuStderr: stderr,
      })
    })
  })
}
