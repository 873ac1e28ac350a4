/** The tamper-evident audit log (DESIGN §8). */
export { checkpointPayload } from './checkpoint.js'
export { fingerprintToken } from './fingerprint.js'
export { type AuditOpenOptions, type AuditVerifyOptions, parseAuditUrl, TokenAuditLog } from './log.js'
export type { TokenAuditLogLike } from './log-like.js'
export { type RepairResult, repairTornTail } from './repair.js'
export type {
  AuditCheckpoint,
  AuditEntryInput,
  AuditHead,
  AuditOutcome,
  AuditProblem,
  AuditQuery,
  AuditVerifyResult,
  TokenAccessAuditEntry,
} from './types.js'
