import type { Command } from '../command.js'

/** `ward crypto-util ...`: offline recovery and migration tools (issue 2). */
export const cryptoUtilCommands: readonly Command[] = []
