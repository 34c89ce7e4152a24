// Test and benchmark helpers of @ward/tpm2 (`@ward/tpm2/testing`): not part of the main entry,
// so a production install never reaches the swtpm launcher.
export {
  manufactureSwtpm,
  prepareSwtpmCa,
  startSwtpm,
  type SwtpmCa,
  type ManufacturedSwtpm,
  type RunningSwtpm,
  type StartSwtpmOptions,
} from './swtpm.js'
