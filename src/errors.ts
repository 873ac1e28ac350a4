/**
 * Every error this package throws on purpose. One base class with a stable string `code` that
 * programs can switch on; every subclass passes `cause`, and a `cause` is sanitized so that no
 * token, refresh token, client secret or upstream response body can ride along inside it.
 *
 * @packageDocumentation
 */

/** The stable error codes, one per error class. */
export type ErrorCode =
  | 'ERR_CONSTITUTION_INVALID'
  | 'ERR_CONSTITUTIONAL_HASH_MISMATCH'
  | 'ERR_SCOPE_VIOLATION'
  | 'ERR_ROLE_NOT_PERMITTED'
  | 'ERR_AGENT_ROLE_NOT_ASSIGNED'
  | 'ERR_INVALID_REQUEST'
  | 'ERR_STEP_UP_REQUIRED'
  | 'ERR_STEP_UP_DENIED'
  | 'ERR_EXCESS_SCOPES'
  | 'ERR_TOKEN_VAULT_EXCHANGE'
  | 'ERR_AUDIT_WRITE'
  | 'ERR_AUDIT_INTEGRITY'
  | 'ERR_AGENT_CONTEXT_MISSING'
  | 'ERR_RATE_LIMITED'
  | 'ERR_CONFIGURATION'

/** Options every error constructor takes. */
export interface GovernanceErrorOptions {
  /** The underlying error. Foreign errors are reduced to their name and code, so that no upstream text rides along. */
  cause?: unknown
}

const MAX_CAUSE_DEPTH = 4

/**
 * Reduces an arbitrary thrown value to something safe to keep as an error's `cause`.
 *
 * - errors of this package are kept as they are (they are safe by construction);
 * - Node.js system errors (`ENOENT`, `ECONNRESET`, ...) and SQLite errors keep their message,
 *   which names paths and syscalls, never request data;
 * - every other error keeps only its `name` and `code`: a parser's or an OAuth library's message
 *   may quote a response body, and a hostile server can echo a secret back in one.
 *
 * @param cause - anything that was thrown
 * @returns an `Error` safe to log, or `undefined` for `undefined`
 */
export function sanitizeCause(cause: unknown, depth = 0): Error | undefined {
  if (cause === undefined || cause === null) return undefined
  if (cause instanceof TokenVaultGovernanceError) return cause
  if (depth >= MAX_CAUSE_DEPTH) return new Error('(cause chain truncated)')
  if (!(cause instanceof Error)) return new Error(`non-error value thrown (${typeof cause})`)
  const rawCode: unknown = (cause as { code?: unknown }).code
  const code = typeof rawCode === 'string' ? rawCode : undefined
  const isSystem = typeof (cause as { syscall?: unknown }).syscall === 'string'
  const isSqlite = cause.name === 'SqliteError'
  const keepMessage = isSystem || isSqlite
  const text = keepMessage ? cause.message.slice(0, 512) : `${cause.name}${code ? ` (${code})` : ''}`
  const inner = sanitizeCause((cause as { cause?: unknown }).cause, depth + 1)
  const safe = inner ? new Error(text, { cause: inner }) : new Error(text)
  safe.name = cause.name
  if (code !== undefined) Object.defineProperty(safe, 'code', { value: code, enumerable: true })
  return safe
}

/**
 * Base class of every error this package throws on purpose.
 *
 * @example
 * ```ts
 * try {
 *   await vault.exchange(request)
 * } catch (err) {
 *   if (err instanceof TokenVaultGovernanceError) console.error(err.code, err.message)
 * }
 * ```
 */
export class TokenVaultGovernanceError extends Error {
  /** A stable code to switch on. */
  readonly code: ErrorCode = 'ERR_TOKEN_VAULT_EXCHANGE'

  constructor(message: string, options: GovernanceErrorOptions = {}) {
    const cause = sanitizeCause(options.cause)
    super(message, cause ? { cause } : undefined)
    this.name = new.target.name
  }

  /** A plain JSON view: name, code, message and the error's public fields. Never a secret. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message }
    for (const [key, value] of Object.entries(this)) {
      if (key !== 'code') out[key] = value
    }
    return out
  }
}

/** One problem found in a constitution, with where it is. */
export interface ConstitutionIssue {
  /** A stable code such as `yaml_syntax`, `unknown_key`, `invalid_scope`. */
  code: string
  /** What is wrong and what was expected. */
  message: string
  /** The file name or source label the text came from. */
  source: string
  /** 1-based line, 0 when the problem has no position (for example the size limit). */
  line: number
  /** 1-based column, 0 when the problem has no position. */
  column: number
}

/**
 * The constitution could not be loaded. `issues` lists every problem found, each with its
 * source, line and column.
 *
 * @example
 * ```ts
 * try {
 *   MACIScopePolicy.fromYamlString(text, 'constitution.yaml')
 * } catch (err) {
 *   if (err instanceof ConstitutionError) for (const i of err.issues) console.error(`${i.source}:${i.line}:${i.column} ${i.code} ${i.message}`)
 * }
 * ```
 */
export class ConstitutionError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_CONSTITUTION_INVALID'
  /** Every problem found, in document order. */
  readonly issues: readonly ConstitutionIssue[]

  constructor(issues: readonly ConstitutionIssue[], options: GovernanceErrorOptions = {}) {
    const first = issues[0]
    const where = first ? `${first.source}:${first.line}:${first.column}: ${first.message}` : 'no details'
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''
    super(`invalid constitution: ${where}${more}`, options)
    this.issues = issues
  }
}

/** The policy declares a constitutional hash other than the one the deployment pins. */
export class ConstitutionalHashMismatchError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_CONSTITUTIONAL_HASH_MISMATCH'
  /** The hash the deployment trusts. */
  readonly expected: string
  /** The hash the policy declares. */
  readonly actual: string

  constructor(expected: string, actual: string, options: GovernanceErrorOptions = {}) {
    super(
      `constitutional hash mismatch: the deployment pins ${expected}, the policy declares ${actual}`,
      options,
    )
    this.expected = expected
    this.actual = actual
  }
}

/** One or more requested scopes are outside the role's permitted set. */
export class ConstitutionalScopeViolation extends TokenVaultGovernanceError {
  override readonly code = 'ERR_SCOPE_VIOLATION'
  /** Every requested scope the role may not have. */
  readonly deniedScopes: readonly string[]

  constructor(message: string, deniedScopes: readonly string[], options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.deniedScopes = deniedScopes
  }
}

/** The constitution has no rule for this role on this connection. */
export class MACIRoleNotPermittedError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_ROLE_NOT_PERMITTED'
  readonly role: string
  readonly connection: string

  constructor(message: string, role: string, connection: string, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.role = role
    this.connection = connection
  }
}

/** The constitution's `agents:` section does not assign this role to this agent. */
export class MACIRoleAssignmentError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_AGENT_ROLE_NOT_ASSIGNED'
  readonly agentId: string
  readonly role: string

  constructor(message: string, agentId: string, role: string, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.agentId = agentId
    this.role = role
  }
}

/** The request itself is malformed (no agent id, no scopes, a scope outside RFC 6749 §3.3, ...). */
export class InvalidTokenRequestError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_INVALID_REQUEST'
}

/** Fields of {@link StepUpAuthRequiredError}. */
export interface StepUpAuthRequiredDetails {
  stepUpId: string
  scopes: readonly string[]
  bindingMessage: string
  connection?: string
}

/**
 * The request needs a step-up approval first. In interrupt mode, call `exchange` again with
 * `stepUpId` once a person has decided.
 */
export class StepUpAuthRequiredError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_STEP_UP_REQUIRED'
  /** Pass this back as `stepUpId` to resume. */
  readonly stepUpId: string
  /** The high-risk scopes that need approval. */
  readonly scopes: readonly string[]
  /** The short text shown to the approver (≤ 64 characters). */
  readonly bindingMessage: string
  /** The connection the approval is for. */
  readonly connection: string | undefined

  constructor(message: string, details: StepUpAuthRequiredDetails, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.stepUpId = details.stepUpId
    this.scopes = details.scopes
    this.bindingMessage = details.bindingMessage
    this.connection = details.connection
  }
}

/** The step-up was denied, expired, or answered by an approver who may not approve. */
export class StepUpDeniedError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_STEP_UP_DENIED'
  /** Why: `denied`, `expired`, `self_approval`, `approver_role`, `unknown`, `mismatch`, `used`. */
  readonly reason: string
  readonly stepUpId: string | undefined

  constructor(message: string, reason: string, stepUpId?: string, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.reason = reason
    this.stepUpId = stepUpId
  }
}

/** Auth0 returned a token carrying scopes the role may not hold (with `excess_scopes: deny`). */
export class ExcessScopesError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_EXCESS_SCOPES'
  readonly excessScopes: readonly string[]

  constructor(message: string, excessScopes: readonly string[], options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.excessScopes = excessScopes
  }
}

/** Fields of {@link TokenVaultExchangeError}. */
export interface TokenVaultExchangeErrorDetails {
  /** HTTP status, or 0 when no response arrived (network error, timeout, abort). */
  status: number
  /** Auth0's `error` code, or a local one (`timeout`, `network_error`, `invalid_response`, ...). */
  error: string
  /** Auth0's `error_description`, with anything the client sent removed. */
  errorDescription?: string | undefined
  /** Whether trying again later may succeed (429, 5xx, network errors). */
  retryable: boolean
}

/** The Auth0 call failed. `status`, `error` and `errorDescription` come from Auth0's answer. */
export class TokenVaultExchangeError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_TOKEN_VAULT_EXCHANGE'
  readonly status: number
  readonly error: string
  readonly errorDescription: string | undefined
  readonly retryable: boolean

  constructor(
    message: string,
    details: TokenVaultExchangeErrorDetails,
    options: GovernanceErrorOptions = {},
  ) {
    super(message, options)
    this.status = details.status
    this.error = details.error
    this.errorDescription = details.errorDescription
    this.retryable = details.retryable
  }
}

/** An audit entry could not be made durable; whatever it was about did not happen. */
export class AuditWriteError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_AUDIT_WRITE'
}

/** The audit log does not verify: an entry was altered, removed, inserted or reordered. */
export class AuditIntegrityError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_AUDIT_INTEGRITY'
  /** The first sequence number that does not verify, when known. */
  readonly firstBadSeq: number | undefined

  constructor(message: string, firstBadSeq?: number, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.firstBadSeq = firstBadSeq
  }
}

/** No agent identity or subject token is available: there is never a default identity. */
export class AgentContextMissingError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_AGENT_CONTEXT_MISSING'
}

/** The constitution's `rate_limit` for this role and connection is exhausted. */
export class RateLimitedError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_RATE_LIMITED'
  /** How long until a request would be allowed again. */
  readonly retryAfterMs: number

  constructor(message: string, retryAfterMs: number, options: GovernanceErrorOptions = {}) {
    super(message, options)
    this.retryAfterMs = retryAfterMs
  }
}

/** The configuration is unusable (for example a plain-`http` Auth0 domain that is not loopback). */
export class ConfigurationError extends TokenVaultGovernanceError {
  override readonly code = 'ERR_CONFIGURATION'
}
