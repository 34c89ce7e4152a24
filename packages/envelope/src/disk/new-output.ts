import { constants, fstatSync, fsyncSync, lstatSync, renameSync } from 'node:fs'
import { basename } from 'node:path'
import { EnvelopeError } from '../errors.js'
import {
  createNew,
  createTempBeside,
  stillNames,
  unlinkIfStill,
  type FileId,
} from '../fs/exclusive.js'
import { closeQuietly } from './common.js'
import { fsyncDir } from './io.js'

/**
 * The new file of encrypt --out and decrypt --out. `out` is reserved at once (created empty,
 * exclusively, 0600: an existing name, symlinks included, fails before any work), the data goes
 * to a fresh temporary file with a random name beside it (`.OUT.ward-tmp-<hex>`, 0600), and
 * `commit` renames it over the reservation once it is complete and fsync'd. A failed run removes
 * its temporary file and its reservation, but no file that took their names meanwhile (both stay
 * open until then, so their inode numbers cannot be reused by a file made in their place).
 * Nothing already there under any name is ever opened, so a planted file or link receives no data.
 */
export class NewOutput {
  readonly out: string
  readonly tempPath: string
  #fd: number
  #reservedFd: number
  readonly #temp: FileId
  readonly #reserved: FileId

  private constructor(
    out: string,
    fd: number,
    tempPath: string,
    temp: FileId,
    reservedFd: number,
    reserved: FileId,
  ) {
    this.out = out
    this.#fd = fd
    this.tempPath = tempPath
    this.#temp = temp
    this.#reservedFd = reservedFd
    this.#reserved = reserved
  }

  /** The temporary file, open read-write. */
  get fd(): number {
    return this.#fd
  }

  static create(out: string): NewOutput {
    let reservedFd: number
    try {
      reservedFd = createNew(out, constants.O_RDONLY)
    } catch (e) {
      throw openError(out, e)
    }
    const st = fstatSync(reservedFd)
    const reserved = { dev: st.dev, ino: st.ino }
    try {
      const t = createTempBeside(out)
      return new NewOutput(out, t.fd, t.path, t, reservedFd, reserved)
    } catch (e) {
      unlinkIfStill(out, reserved)
      closeQuietly(reservedFd)
      throw openError(out, e)
    }
  }

  /** fsync the data, rename it over the reservation, fsync the folder. */
  commit(): void {
    fsyncSync(this.#fd)
    if (!stillNames(this.out, this.#reserved))
      throw new EnvelopeError(
        'ERR_DISK_EXISTS',
        `${this.out} was replaced by another file while Ward was writing it; Ward never overwrites it (nothing was written there)`,
      )
    renameSync(this.tempPath, this.out)
    for (const fd of [this.#fd, this.#reservedFd]) closeQuietly(fd)
    this.#fd = -1
    this.#reservedFd = -1
    fsyncDir(this.out)
  }

  /** After a failure: close and remove what this run created (idempotent). */
  abort(): void {
    // checked while both are still open (their inode numbers cannot have been reused)
    if (this.#fd >= 0) unlinkIfStill(this.tempPath, this.#temp)
    if (this.#reservedFd >= 0) unlinkIfStill(this.out, this.#reserved)
    for (const fd of [this.#fd, this.#reservedFd]) if (fd >= 0) closeQuietly(fd)
    this.#fd = -1
    this.#reservedFd = -1
  }
}

function openError(out: string, e: unknown): EnvelopeError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error'
  if (code !== 'EEXIST')
    return new EnvelopeError('ERR_DISK_OPEN', `cannot create ${out} (${code})`, { cause: e })
  let leftover = false
  try {
    const st = lstatSync(out)
    leftover = st.isFile() && st.size === 0
  } catch {
    /* raced away */
  }
  return new EnvelopeError(
    'ERR_DISK_EXISTS',
    leftover
      ? `${out} already exists (empty: perhaps left by an interrupted run, with a hidden .${basename(out)}.ward-tmp-* beside it); Ward never overwrites it: remove them or pick another name`
      : `${out} already exists; Ward never overwrites it (remove it or pick another name)`,
    { cause: e },
  )
}
