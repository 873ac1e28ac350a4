/** Step-up approval types (DESIGN §6). */

/** What an approver is asked to decide. */
export interface StepUpRequest {
  /** Unique id of this step-up; also the `stepUpId` an interrupted caller resumes with. */
  id: string
  agentId: string
  role: string
  connection: string
  /** The high-risk scopes that need approval. */
  scopes: readonly string[]
  toolName?: string | undefined
  /** The end user (Auth0 `sub`) whose connected account the token comes from. */
  userId?: string | undefined
  /** ≤ 64 characters of Auth0's binding-message set: letters, digits, space and `+-_.,:#`. */
  bindingMessage: string
  /** Epoch milliseconds after which the request is expired. */
  expiresAt: number
}

/** Who decided. */
export interface ApproverIdentity {
  id: string
  role?: string | undefined
}

/** The answer of an approver. */
export interface StepUpDecision {
  approved: boolean
  approver: ApproverIdentity
  reason?: string | undefined
  /** Epoch milliseconds. */
  decidedAt: number
  /** Set when the approver gave up because the request expired (rather than a person denying it). */
  expired?: boolean | undefined
}

/** Options passed to an approver along with the request. */
export interface ApprovalOptions {
  /** Aborted when the vault stops waiting (timeout, caller cancelled). */
  signal?: AbortSignal | undefined
}

/**
 * Anything that can decide a step-up: Auth0 CIBA, a callback, a person at a console.
 *
 * @example
 * ```ts
 * const approver: Approver = {
 *   async requestApproval(req) {
 *     return { approved: true, approver: { id: 'alice', role: 'JUDICIAL' }, decidedAt: Date.now() }
 *   },
 * }
 * ```
 */
export interface Approver {
  /**
   * Who decides. `'maci'` (the default when absent): an identity acting in a MACI role, whose
   * role must be allowed by `step_up.approvers`. `'resource_owner'`: the end user whose connected
   * account the token comes from (Auth0 CIBA); `step_up.approvers` does not apply, the
   * self-approval rule still does.
   */
  readonly kind?: ApproverKind | undefined
  /** Asks for a decision on `req`; resolves when someone decides or the request expires. */
  requestApproval(req: StepUpRequest, options?: ApprovalOptions): Promise<StepUpDecision>
}

/** See {@link Approver.kind}. */
export type ApproverKind = 'maci' | 'resource_owner'
