import type { Command } from '../command.js'
import { cryptoUtilCommands } from './crypto-util.js'
import { cryptoUtilFileCommands } from './crypto-util-file.js'
import { cryptoUtilDiskCommands } from './crypto-util-disk.js'
import { hostCommands } from './host.js'
import { cryptoUtilKeysCommands } from './crypto-util-keys.js'
import { kmsCommands } from './kms.js'

/** Every command of the `ward` binary; each area keeps its own file. */
export const commands: readonly Command[] = [
  ...cryptoUtilCommands,
  ...cryptoUtilFileCommands,
  ...cryptoUtilDiskCommands,
  ...hostCommands,
  ...cryptoUtilKeysCommands,
  ...kmsCommands,
]
