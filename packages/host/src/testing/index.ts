// @ward/host/testing: the test guest (a small Linux from Debian packages) for tests that boot VMs.
export {
  buildTestGuest,
  runTestGuest,
  guestQemuArgs,
  cpioNewc,
  GuestError,
  READY_MARKER,
  SCRIPT_PROMPT,
  SCRIPT_END,
  GUEST_MODULES,
  GUEST_EXTRA_MODULES,
} from './guest.js'
export type {
  GuestImage,
  GuestDisk,
  GuestRun,
  RunGuestOptions,
  BuildGuestOptions,
} from './guest.js'
// swtpm for the packages that test a real `ward host serve` but do not depend on @ward/tpm2 (center)
export { startSwtpm, type RunningSwtpm } from '@ward/tpm2/testing'
