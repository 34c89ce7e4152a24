// @ward/nbd/testing: a raw-file backend (the plain reference), a small NBD client, and a runner
// for peer tools (nbdinfo, nbdcopy, qemu-img, QEMU) that kills hung process groups.
export { openFileBackend } from './file-backend.js'
export type { FileBackend, FileBackendOptions, FileBackendStats } from './file-backend.js'
export { NbdClient } from './client.js'
export type { NbdClientOptions, NbdReply } from './client.js'
export { runTool, spawnGroup, killGroup } from './run.js'
export type { RunOptions, RunResult } from './run.js'
