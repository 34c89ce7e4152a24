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
