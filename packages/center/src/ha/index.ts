/** Leadership among the center processes of one database (see leadership.ts). */
export {
  leadershipFor,
  leaseLeadership,
  soleLeadership,
  LeaseDefaults,
  newNodeId,
  type Leadership,
  type LeaderStatus,
  type LeaseOptions,
} from './leadership.js'
