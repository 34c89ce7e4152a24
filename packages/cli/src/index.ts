export { main } from './bin.js'
export {
  defineCommand,
  parseCommandLine,
  type Command,
  type CommandContext,
  type CommandSpec,
  type Options,
  type Values,
} from './command.js'
export {
  bool,
  choice,
  custom,
  int,
  list,
  onOff,
  resolveFlags,
  text,
  texts,
  tf,
  type Flag,
  type FlagValues,
  type Flags,
} from './flags.js'
export { commandHelp, groupHelp } from './help.js'
export { createOutput, table, type Output, type Progress } from './output.js'
