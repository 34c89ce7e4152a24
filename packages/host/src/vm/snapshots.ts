import { execFile } from 'node:child_process'
import {
  closeSync,
  cpSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { HostError } from '../errors.js'
import type { VmDisk } from './config.js'

/** The folder of a VM's snapshots (one sub-folder per snapshot, named by its id). */
export const SNAPSHOT_DIR = 'snapshots'
/** A memory snapshot's image in its folder: sealed (encrypted VM) or QEMU's raw stream. */
export const SNAPSHOT_MEMORY_SEALED = 'memory.ve'
export const SNAPSHOT_MEMORY_PLAIN = 'memory.vmss'
/** Most snapshots of one VM (vSphere recommends few; 32 is its per-chain maximum). */
export const MAX_SNAPSHOTS = 32

/** One snapshot of the tree in vm.json (as on vSphere: id, name, parent, created, memory). */
export interface VmSnapshot {
  readonly id: string
  readonly name: string
  /** The parent snapshot's id; none for a root. */
  readonly parent?: string
  readonly created: string
  /** Taken powered on: QEMU's state is in the snapshot, and a revert resumes the guest. */
  readonly withMemory: boolean
  /** The disks at that time (each a copy in the snapshot's folder, still encrypted). */
  readonly disks: readonly VmDisk[]
  /** An efi VM's variable store is in the snapshot's folder (sealed when the VM is encrypted). */
  readonly nvram?: boolean
  /** A vTPM's state folder is in the snapshot's folder (encrypted by swtpm with its state key). */
  readonly vtpm?: boolean
  /** A memory snapshot's boot options (the resumed QEMU needs the same). */
  readonly boot?: { readonly kernel?: string; readonly initrd?: string; readonly append?: string }
}

export interface VmSnapshots {
  /** The snapshot the running state descends from ("you are here"); none before the first. */
  readonly current?: string
  readonly list: readonly VmSnapshot[]
}

/** A snapshot by name or id (names are unique within a VM). */
export function findSnapshot(s: VmSnapshots | undefined, vm: string, ref: string): VmSnapshot {
  const x = s?.list.find((p) => p.name === ref || p.id === ref)
  if (!x)
    throw new HostError(
      'ERR_HOST_SNAPSHOT_NOT_FOUND',
      `VM '${vm}' has no snapshot '${ref.slice(0, 64)}' (ward host vm snapshot list ${vm})`,
      { vm },
    )
  return x
}

/**
 * Branches of the tree, the running state counted as a child of the current snapshot: a chain
 * (one disk chain, vSphere's "single snapshot branch") has every node with at most one child.
 */
export function branchCount(s: VmSnapshots | undefined): number {
  if (!s) return 1
  const parents = new Set(s.list.map((x) => x.parent))
  // the running state is one leaf; a snapshot is another when nothing descends from it
  return 1 + s.list.filter((x) => !parents.has(x.id) && x.id !== s.current).length
}

/** Check a vm.json snapshots section (storage is untrusted); `bad` makes the config error. */
export function checkSnapshots(
  v: unknown,
  diskOk: (d: unknown) => VmDisk,
  bad: (why: string) => Error,
): VmSnapshots {
  const o = v as Record<string, unknown>
  if (
    typeof o !== 'object' ||
    o === null ||
    !Array.isArray(o.list) ||
    o.list.length > MAX_SNAPSHOTS
  )
    throw bad('bad snapshots')
  const ids = new Set<string>()
  const names = new Set<string>()
  const list = o.list.map((e: unknown): VmSnapshot => {
    const x = e as Record<string, unknown>
    if (
      typeof x !== 'object' ||
      x === null ||
      typeof x.id !== 'string' ||
      !/^[0-9a-f-]{36}$/.test(x.id) ||
      ids.has(x.id) ||
      typeof x.name !== 'string' ||
      !SNAP_NAME_RE.test(x.name) ||
      names.has(x.name) ||
      (x.parent !== undefined && typeof x.parent !== 'string') ||
      typeof x.created !== 'string' ||
      typeof x.withMemory !== 'boolean' ||
      !Array.isArray(x.disks) ||
      (x.nvram !== undefined && typeof x.nvram !== 'boolean') ||
      (x.vtpm !== undefined && typeof x.vtpm !== 'boolean')
    )
      throw bad('bad snapshot entry')
    ids.add(x.id)
    names.add(x.name)
    let boot: VmSnapshot['boot']
    if (x.boot !== undefined) {
      const b = x.boot as Record<string, unknown>
      if (typeof b !== 'object' || b === null) throw bad('bad snapshot boot')
      const out: { kernel?: string; initrd?: string; append?: string } = {}
      for (const k of ['kernel', 'initrd', 'append'] as const) {
        if (b[k] === undefined) continue
        if (typeof b[k] !== 'string' || b[k].length > 4096) throw bad('bad snapshot boot')
        out[k] = b[k]
      }
      boot = out
    }
    return {
      id: x.id,
      name: x.name,
      ...(typeof x.parent === 'string' ? { parent: x.parent } : {}),
      created: x.created,
      withMemory: x.withMemory,
      disks: x.disks.map(diskOk),
      ...(x.nvram === true ? { nvram: true } : {}),
      ...(x.vtpm === true ? { vtpm: true } : {}),
      ...(boot ? { boot } : {}),
    }
  })
  for (const x of list)
    if (x.parent !== undefined && !ids.has(x.parent)) throw bad('a snapshot with no parent')
  if (o.current !== undefined && (typeof o.current !== 'string' || !ids.has(o.current)))
    throw bad('bad current snapshot')
  return { ...(typeof o.current === 'string' ? { current: o.current } : {}), list }
}

const SNAP_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** A snapshot name: 1 to 64 letters, digits, '.', '_', '-'. */
export function checkSnapshotName(name: string): string {
  if (!SNAP_NAME_RE.test(name))
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      "a snapshot name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    )
  return name
}

const run = promisify(execFile)

/**
 * Copy a disk file: a reflink where the file system has them (btrfs, XFS: instant, shared
 * blocks), else a copy that keeps holes (a thin disk stays thin). An encrypted disk is copied as
 * it is, LUKS2 header and ciphertext: the copy has the same DEK and the same wrapped token.
 * The copy is fsynced; `to` must not exist.
 */
export async function copyDisk(from: string, to: string): Promise<void> {
  try {
    await run('cp', ['--reflink=auto', '--sparse=always', '--no-preserve=all', from, to])
    const fd = openSync(to, 'r+')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch (e) {
    rmSync(to, { force: true })
    throw new HostError(
      'ERR_HOST_SNAPSHOT_IO',
      `copying ${from} to ${to} failed (${String(
        (e as { stderr?: string }).stderr ?? (e as Error).message,
      )
        .trim()
        .slice(0, 200)}): free space on the datastore and try again`,
      {},
      { cause: e },
    )
  }
}

/** fsync every file of a folder (one level: swtpm's state folder), then the folder. */
function fsyncFolder(dir: string): void {
  for (const f of readdirSync(dir, { withFileTypes: true }))
    if (f.isFile()) {
      const fd = openSync(join(dir, f.name), 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Copy a state folder (a vTPM's) into a snapshot: its files as they are, fsynced; `to` is new. */
export function copyStateFolder(from: string, to: string): void {
  try {
    cpSync(from, to, { recursive: true, errorOnExist: true, force: false })
    fsyncFolder(to)
  } catch (e) {
    rmSync(to, { recursive: true, force: true })
    throw new HostError(
      'ERR_HOST_SNAPSHOT_IO',
      `copying ${from} to ${to} failed (${(e as { code?: string }).code ?? 'error'}): free space on the datastore and try again`,
      {},
      { cause: e },
    )
  }
}

/**
 * Put a snapshot's state folder back in place of the live one: copied beside it first (complete
 * and fsynced), then the live one moved aside and the copy renamed in, so a crash leaves one whole
 * folder or the other (between the two renames only the copy: startVtpm renames it in).
 */
export function restoreStateFolder(from: string, live: string): void {
  const next = `${live}.revert`
  const old = `${live}.old`
  rmSync(next, { recursive: true, force: true })
  rmSync(old, { recursive: true, force: true })
  copyStateFolder(from, next)
  if (existsSync(live)) renameSync(live, old)
  renameSync(next, live)
  rmSync(old, { recursive: true, force: true })
}
