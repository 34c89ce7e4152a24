// @ward/kmip/testing: test and benchmark helpers (PyKMIP peer). Not for production code.
export { startPykmipServer, freePort, makeTestCertificates } from './pykmip.js'
export type { PykmipServer, PykmipOptions } from './pykmip.js'
export { replayTestCase } from './conformance.js'
export type { ConformanceResult } from './conformance.js'
