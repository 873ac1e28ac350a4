/** Public types of the governed exchange (DESIGN §4, §5). */
import type { TokenAuditLogLike } from '../audit/log-like.js'
import type { Auth0Options } from '../auth0/types.js'
import type { PolicyValidationResult } from '../policy/types.js'
import type { Approver } from '../step-up/types.js'

/** What an agent asks the vault for. Exactly one of `refreshToken` / `accessToken`. */
export interface TokenVaultRequest {
  agentId: string
  role: string
  connection: string
  scopes: readonly string[]
  refreshToken?: string | undefined
  accessToken?: string | undefined
  /** The end user (Auth0 `sub`) whose connected account is used; needed for CIBA. */
  userId?: string | undefined
  loginHint?: string | undefined
  toolName?: string | undefined
  /** Resume an interrupted step-up. */
  stepUpId?: string | undefined
  signal?: AbortSignal | undefined
}

/** What the vault returns. `accessToken` is non-enumerable (never in JSON or `util.inspect`). */
export interface TokenVaultResponse {
  readonly accessToken: string
  tokenType: string
  expiresIn: number
  /** Epoch milliseconds. */
  expiresAt: number
  scope: readonly string[]
  issuedTokenType: string
  connection: string
  /** True when served from the token cache. */
  cached: boolean
  validation: PolicyValidationResult
  /** Returned scopes the role may not hold here, released because `excess_scopes: audit` (or shadow mode). */
  excessScopes?: readonly string[] | undefined
  /** The step-up whose approval this release used. */
  stepUpId?: string | undefined
}

/** Step-up settings of the vault. */
export interface StepUpOptions {
  approver?: Approver | undefined
  /** @defaultValue `'block'` */
  mode?: 'block' | 'interrupt' | undefined
  /** How long `block` waits, and how long an approval stays valid. @defaultValue the constitution's `step_up.timeout_seconds`, else 300 s */
  timeoutMs?: number | undefined
}

export type { Auth0Options, TokenAuditLogLike }
