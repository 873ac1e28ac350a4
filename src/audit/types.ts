/** Audit log types (DESIGN §8). */
import type { DecisionReason } from '../policy/types.js'

/** Every outcome an audit entry can record. */
export type AuditOutcome =
  | 'granted'
  | 'denied_scope_violation'
  | 'denied_role_not_permitted'
  | 'denied_agent_role'
  | 'denied_invalid_request'
  | 'denied_excess_scopes'
  | 'denied_rate_limited'
  | 'shadow_denied'
  | 'step_up_initiated'
  | 'step_up_approved'
  | 'step_up_denied'
  | 'step_up_expired'
  | 'error'

/** One entry of the hash-chained audit log. Never holds a token, refresh token or secret. */
export interface TokenAccessAuditEntry {
  /** 1-based, contiguous. */
  seq: number
  /** Unique id (UUID). */
  id: string
  /** ISO 8601 UTC. */
  timestamp: string
  outcome: AuditOutcome
  agentId: string
  role: string
  connection: string
  toolName: string | null
  userId: string | null
  requestedScopes: readonly string[]
  grantedScopes: readonly string[]
  deniedScopes: readonly string[]
  stepUpScopes: readonly string[]
  excessScopes: readonly string[]
  reasons: readonly DecisionReason[]
  cached: boolean
  /** Who approved or denied a step-up. */
  approver: { id: string; role: string | null } | null
  /** The package error code (`ERR_...`) of a failure, or null. */
  errorCode: string | null
  constitutionalHash: string
  policyDigest: string
  /** A short hash that lets two entries about the same token be matched; never the token. */
  tokenFingerprint: string | null
  /** The step-up this entry belongs to, when any. */
  stepUpId: string | null
  /** Hex SHA-256 of the previous entry (64 zeros for the first). */
  prevHash: string
  /** Hex SHA-256 of `prevHash` followed by the JCS of this entry without `hash`. */
  hash: string
}

/** What `append()` takes: the entry without the fields the log fills in. Optional fields default to null / [] / false. */
export interface AuditEntryInput {
  outcome: AuditOutcome
  agentId: string
  role: string
  connection: string
  toolName?: string | null | undefined
  userId?: string | null | undefined
  requestedScopes?: readonly string[] | undefined
  grantedScopes?: readonly string[] | undefined
  deniedScopes?: readonly string[] | undefined
  stepUpScopes?: readonly string[] | undefined
  excessScopes?: readonly string[] | undefined
  reasons?: readonly DecisionReason[] | undefined
  cached?: boolean | undefined
  approver?: { id: string; role?: string | null | undefined } | null | undefined
  errorCode?: string | null | undefined
  constitutionalHash: string
  policyDigest: string
  tokenFingerprint?: string | null | undefined
  stepUpId?: string | null | undefined
}

/** Filters of `query()`. `limit` keeps the newest N; results are oldest first. */
export interface AuditQuery {
  agentId?: string | undefined
  connection?: string | undefined
  outcome?: AuditOutcome | undefined
  /** ISO 8601 or Date: entries at or after. */
  since?: string | Date | undefined
  /** ISO 8601 or Date: entries at or before. */
  until?: string | Date | undefined
  limit?: number | undefined
  /** Only entries with a greater `seq` (for following a log). */
  afterSeq?: number | undefined
}

/** The last entry's sequence number and hash (`{ seq: 0, hash: '0'.repeat(64) }` when empty). */
export interface AuditHead {
  seq: number
  hash: string
}

/** What `verify()` found. */
export type AuditProblem =
  | 'altered'
  | 'removed'
  | 'inserted'
  | 'reordered'
  | 'broken_tail'
  | 'checkpoint_mismatch'
  | 'truncated'
  | 'bad_signature'

/**
 * What `verify()` found: `ok` with the number of entries and the head, or the first bad
 * sequence number and what is wrong there.
 */
export interface AuditVerifyResult {
  ok: boolean
  /** Entries read. */
  entries: number
  head: AuditHead
  firstBadSeq?: number
  problem?: AuditProblem
  /** A human-readable explanation of the problem. */
  detail?: string
}

/** A signed statement that the log had `hash` at `seq` (like a CT signed tree head). */
export interface AuditCheckpoint {
  seq: number
  hash: string
  timestamp: string
  logId: string
  /** Base64 Ed25519 signature over the JCS of `{ seq, hash, timestamp, logId }`. */
  signature: string
}
