/** Public types of the offline decision (DESIGN §3). */
import type { TokenVaultGovernanceError } from '../errors.js'

/** What the policy decides about: who asks, in which role, on which connection, for what. */
export interface TokenScopeRequest {
  agentId: string
  role: string
  connection: string
  scopes: readonly string[]
}

/** `allow`: permitted, no step-up; `step_up`: permitted after approval; `deny`: refused. */
export type Decision = 'allow' | 'step_up' | 'deny'

/** Stable reason codes (DESIGN §3). */
export type ReasonCode =
  | 'invalid_request'
  | 'agent_role_not_assigned'
  | 'role_not_permitted'
  | 'scope_violation'
  | 'step_up_required'
  | 'permitted'
  | VaultReasonCode

/**
 * Reason codes the vault records in audit entries about what happened after the decision;
 * `validate()` never returns these.
 */
export type VaultReasonCode =
  | 'rate_limited'
  | 'step_up_approved'
  | 'step_up_denied'
  | 'step_up_expired'
  | 'self_approval'
  | 'approver_role'
  | 'step_up_mismatch'
  | 'step_up_used'
  | 'step_up_unknown'
  | 'approver_error'
  | 'excess_scopes'
  | 'upstream_error'
  | 'internal_error'

/** One line of the explanation of a decision. */
export interface DecisionReason {
  code: ReasonCode
  message: string
  /** The scope the reason is about, when it is about one. */
  scope?: string
}

/** The result of `validate()` (DESIGN §3). */
export interface PolicyValidationResult {
  /** Whether the request may proceed (after step-up when `stepUpRequired`). True for a shadow-mode denial. */
  permitted: boolean
  decision: Decision
  stepUpRequired: boolean
  /** Requested scopes that are high-risk (need step-up), in request order, de-duplicated. */
  stepUpScopes: readonly string[]
  /** Requested scopes outside the permitted set (`scope_violation`), in request order. */
  deniedScopes: readonly string[]
  /** The requested scopes, de-duplicated, when permitted; empty when denied. */
  grantedScopes: readonly string[]
  reasons: readonly DecisionReason[]
  /** The typed error a denial would throw, or null. */
  error: TokenVaultGovernanceError | null
  policyDigest: string
  constitutionalHash: string
  /** True only when a denial was let through by shadow mode. */
  shadow: boolean
}

/** The rule for one role on one connection. */
export interface ScopeRule {
  permittedScopes: readonly string[]
  highRiskScopes: readonly string[]
  /** Optional per-agent rate limit: at most `max` exchanges per `perSeconds`. */
  rateLimit?: { max: number; perSeconds: number }
}

/** `enforce` denies; `shadow` decides and audits but lets denials through. */
export type PolicyMode = 'enforce' | 'shadow'

/** What to do when Auth0 returns more scopes than permitted. */
export type ExcessScopesMode = 'deny' | 'audit'

/** The `step_up:` section. */
export interface StepUpSettings {
  /** Roles whose members may approve; undefined = anyone except the requester. */
  approvers?: readonly string[]
  /** How long an approval may take. */
  timeoutSeconds?: number
}
