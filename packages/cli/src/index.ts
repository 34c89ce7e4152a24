export { main } from './bin.js'
export {
  defineCommand,
  type Command,
  type CommandContext,
  type Options,
  type Values,
} from './command.js'
export { createOutput, table, type Output, type Progress } from './output.js'
