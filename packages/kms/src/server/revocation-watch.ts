/**
 * The running server's view of revoked.json (see admin/revocation.ts): loaded at start (an
 * unreadable file stops the start), then re-read whenever the file changes. fs.watchFile polls
 * the file's stat (inode, size, mtime: a rename over it is seen) every `intervalMs` in the
 * thread pool: no event per write in the data dir (an inotify watch on the directory would fire
 * on every WAL append), works on any file system, and keeps no process alive. A file that
 * cannot be read after a change keeps the last good list (revocations never silently drop).
 */
import { unwatchFile, watchFile } from 'node:fs'
import type { Stats } from 'node:fs'
import type { Logger } from '@ward/core'
import { compileRevocations, readRevocations } from '../admin/revocation.js'
import type { Revocations } from '../admin/revocation.js'

export interface RevocationWatch {
  current(): Revocations
  stop(): void
}

export function watchRevocations(
  path: string,
  logger: Logger,
  onChange: (r: Revocations) => void,
  intervalMs = 500,
): RevocationWatch {
  // Watch first, then read: a change between the two is seen by the watch.
  const listener = (cur: Stats, prev: Stats): void => {
    if (cur.ino === prev.ino && cur.mtimeMs === prev.mtimeMs && cur.size === prev.size) return
    let next: Revocations
    try {
      next = compileRevocations(readRevocations(path))
    } catch (e) {
      logger.error(
        { err: e },
        'revoked.json changed but cannot be read; the previous deny list stays in force',
      )
      return
    }
    list = next
    onChange(list)
  }
  watchFile(path, { persistent: false, interval: intervalMs }, listener)
  let list: Revocations
  try {
    list = compileRevocations(readRevocations(path))
  } catch (e) {
    unwatchFile(path, listener)
    throw e
  }
  return {
    current: () => list,
    stop: () => unwatchFile(path, listener),
  }
}
