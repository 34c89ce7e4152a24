import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readdirSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, ward, serve, secretFile, WARD_BIN, type Serving } from '../helpers/harness.js'
import { bootRun, guestOutput, md5, wardJson } from '../helpers/vm-guest.js'
import type { VmDescription } from '../../src/index.js'
import { buildTestGuest } from '../../src/testing/index.js'

// Encrypt, deep recrypt and decrypt of a VM show progress over the whole VM (all disks: bytes
// done / total) and resume after a crash: `ward host serve` is killed with SIGKILL midway, the
// VM stays refused for power-on with a message that says to run the task again, and running it
// again resumes (its first progress report is beyond 0) and finishes with the data intact.

const MiB = 1 << 20
/** Two disks of 1 GiB: each task takes a few seconds here (more under load). */
const DISK_MIB = 1024
const BLOCK = MiB

interface Progress {
  readonly progress: string
  readonly done: number
  readonly total: number
  readonly finished?: boolean
}

/** Where the known pattern lies: (disk, offset in MiB), a random MiB at each. */
const SPOTS: readonly (readonly [disk: number, mib: number])[] = [
  [0, 0],
  [0, DISK_MIB - 1],
  [1, 0],
  [1, 517],
  [1, DISK_MIB - 1],
]

/**
 * Run `ward ARGS --json` and collect its progress lines (stderr); `onLine` sees each as it comes
 * (the test kills the agent from there).
 */
function wardWithProgress(
  args: readonly string[],
  onLine: (p: Progress) => void = () => undefined,
): Promise<{ code: number | null; stdout: string; stderr: string; progress: Progress[] }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [WARD_BIN, ...args, '--json'])
    let stdout = ''
    let stderr = ''
    let pending = ''
    const progress: Progress[] = []
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      pending += d.toString()
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (!line.startsWith('{"progress"')) continue
        const x = JSON.parse(line) as Progress
        progress.push(x)
        onLine(x)
      }
    })
    p.on('close', (code) => resolve({ code, stdout, stderr, progress }))
  })
}

test(
  'encrypt, deep recrypt and decrypt: progress over all disks; kill -9 of the agent midway, power-on refused, the rerun resumes beyond 0 and the data is intact',
  { timeout: 1_200_000 },
  async (t) => {
    const { dir, cleanup } = tempDir('ward-vm-resume-')
    t.after(cleanup)
    const D = join(dir, 'h')
    assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', 'none'])).code, 0)
    let agent: Serving = await serve(['--data-dir', D])
    t.after(() => agent.stop())
    const kekFile = secretFile(join(dir, 'kek'), randomBytes(32))
    const addKey = (): Promise<unknown> =>
      wardJson([
        'crypto-util',
        'keys',
        'add',
        'kp1',
        'kek-1',
        '--kek-file',
        kekFile,
        '--data-dir',
        D,
      ])
    await wardJson(['host', 'datastore', 'add', 'ds1', join(dir, 'ds1'), '--data-dir', D])
    await addKey()
    const g = await buildTestGuest()
    const vm = await wardJson<VmDescription>([
      'host',
      'vm',
      'create',
      'v1',
      '--disk',
      `${DISK_MIB}M`,
      '--disk',
      `${DISK_MIB}M`,
      '--data-dir',
      D,
    ])
    assert.equal(vm.encrypted, false)
    const total = 2 * DISK_MIB * MiB
    // the known pattern, written into the plain VM's raw disk files
    const blocks = SPOTS.map(() => randomBytes(BLOCK))
    SPOTS.forEach(([disk, mib], i) => {
      const fd = openSync(vm.disks[disk]!.path, 'r+')
      try {
        writeSync(fd, blocks[i]!, 0, BLOCK, mib * MiB)
      } finally {
        closeSync(fd)
      }
    })
    const want = blocks.map((b) => md5(b))
    const guestRead = SPOTS.map(
      ([disk, mib]) =>
        `dd if=/dev/vd${'ab'[disk]} bs=1048576 skip=${mib} count=1 2>/dev/null | md5sum`,
    ).join('\n')
    const guestSees = async (): Promise<string[]> =>
      [...guestOutput(await bootRun(D, g, 'v1', guestRead, 2)).matchAll(/^([0-9a-f]{32}) /gm)].map(
        (m) => m[1]!,
      )

    /**
     * Run `args`, kill -9 the agent once `killAt` says so, restart it (the key cache is empty
     * after a crash: the KEK is added again), check that describe and power-on say the task is
     * unfinished, run it again, check that it resumed and finished.
     */
    const crashAndResume = async (
      task: 'encrypt' | 'deep recrypt' | 'decrypt',
      args: readonly string[],
      killAt: (p: Progress) => boolean,
      rerun: string,
    ): Promise<{ first: Progress; last: Progress; result: VmDescription }> => {
      let killed: Promise<void> | undefined
      const a = agent
      const r1 = await wardWithProgress(args, (p) => {
        if (killed === undefined && killAt(p)) killed = a.kill9()
      })
      assert.ok(killed, `${task}: no progress line to kill at (${r1.stderr})`)
      await killed
      assert.notEqual(r1.code, 0, `${task} finished before the kill: use larger disks`)
      const p1 = r1.progress[0]!
      assert.equal(p1.total, total, 'progress covers the whole VM')
      assert.ok(p1.done < total)
      const next = await serve(['--data-dir', D])
      assert.equal(next.exitCode, undefined, next.output())
      agent = next
      await addKey()
      const d = await wardJson<VmDescription>(['host', 'vm', 'describe', 'v1', '--data-dir', D])
      assert.deepEqual(d.unfinished, { task, command: rerun }, JSON.stringify(d))
      const text = await ward(['host', 'vm', 'describe', 'v1', '--data-dir', D])
      assert.ok(
        text.stdout.includes(`Unfinished:       ${task}: run '${rerun}' again`),
        text.stdout,
      )
      const on = await ward([
        'host',
        'vm',
        'power-on',
        'v1',
        '--kernel',
        g.kernel,
        '--initrd',
        g.initrd,
        '--data-dir',
        D,
      ])
      assert.equal(on.code, 2, on.stderr)
      assert.match(on.stderr, /ERR_HOST_VM_RECRYPT_PARTIAL/)
      assert.ok(on.stderr.includes(`run '${rerun}' again to finish it`), on.stderr)
      const r2 = await wardWithProgress(args)
      assert.equal(r2.code, 0, r2.stderr)
      const first = r2.progress[0]!
      const last = r2.progress.at(-1)!
      assert.ok(first.done > 0, `${task} resumed: its first progress is ${first.done} bytes`)
      assert.deepEqual(last, { progress: last.progress, done: total, total, finished: true })
      for (const p of r2.progress) assert.equal(p.total, total)
      for (let i = 1; i < r2.progress.length; i++)
        assert.ok(r2.progress[i]!.done >= r2.progress[i - 1]!.done, 'progress never goes back')
      const result = JSON.parse(r2.stdout) as VmDescription
      assert.equal(result.unfinished, undefined)
      return { first, last, result }
    }

    // encrypt: killed at its first progress report (inside the first disk: its journal resumes)
    const enc = await crashAndResume(
      'encrypt',
      ['host', 'vm', 'encrypt', 'v1', '--provider-id', 'kp1', '--kek-id', 'kek-1', '--data-dir', D],
      () => true,
      'ward host vm encrypt v1',
    )
    assert.equal(enc.last.progress, 'encrypt')
    assert.equal(enc.result.encrypted, true)
    assert.deepEqual(await guestSees(), want, 'the pattern, read by the guest through the filter')

    // deep recrypt: the same, with the envelope's rekey journal
    const deep = await crashAndResume(
      'deep recrypt',
      ['host', 'vm', 'recrypt', 'v1', '--deep', '--data-dir', D],
      () => true,
      'ward host vm recrypt v1 --deep',
    )
    assert.equal(deep.last.progress, 'recrypt')
    assert.deepEqual(await guestSees(), want, 'the pattern after the deep recrypt')

    // decrypt: a disk decrypts into a new file, so the kill is in the second disk (the first is
    // done and counted: the rerun starts at the second)
    const diskBytes = DISK_MIB * MiB
    const dec = await crashAndResume(
      'decrypt',
      ['host', 'vm', 'decrypt', 'v1', '--data-dir', D],
      (p) => p.done > diskBytes && p.done < total,
      'ward host vm decrypt v1',
    )
    assert.equal(dec.last.progress, 'decrypt')
    assert.ok(dec.first.done >= diskBytes, 'the decrypted first disk is not redone')
    assert.equal(dec.result.encrypted, false)
    // the plain disks hold the pattern; no half-written plaintext copy is left in the folder
    SPOTS.forEach(([disk, mib], i) => {
      const b = Buffer.alloc(BLOCK)
      const fd = openSync(dec.result.disks[disk]!.path, 'r')
      try {
        assert.equal(readSync(fd, b, 0, BLOCK, mib * MiB), BLOCK)
      } finally {
        closeSync(fd)
      }
      assert.equal(md5(b), want[i], `disk ${disk} at ${mib} MiB`)
    })
    assert.deepEqual(
      readdirSync(dec.result.path).filter((f) => /ward-tmp|ward-journal|\.luks$/.test(f)),
      [],
    )
    assert.deepEqual(await guestSees(), want, 'the pattern after the decrypt')
  },
)
