import { CibaClient } from '../auth0/ciba-client.js'
import { type Auth0Config, resolveAuth0Config } from '../auth0/config.js'
import type { TokenVaultClientOptions } from '../auth0/token-vault-client.js'
import type { Auth0Options } from '../auth0/types.js'
import { InvalidTokenRequestError, TokenVaultExchangeError } from '../errors.js'
import { buildBindingMessage, sanitizeBindingMessage } from './binding-message.js'
import type { ApprovalOptions, Approver, StepUpDecision, StepUpRequest } from './types.js'

/** Longest `requested_expiry` for which Auth0 still sends a push notification. */
const PUSH_MAX_EXPIRY_SECONDS = 300

/** Options of {@link CibaApprover}. */
export interface CibaApproverOptions {
  /** Auth0 settings. @defaultValue read from `env` (`AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`) on first use */
  auth0?: Auth0Options | Auth0Config | undefined
  /**
   * `requested_expiry` sent to Auth0, in seconds.
   * @defaultValue the seconds left until the step-up request's `expiresAt`, between 1 and 300
   */
  requestedExpirySeconds?: number | undefined
  /** @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined
  /** Where `auth0` settings missing from `auth0` are read. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv | undefined
  /** Timeouts and retries of each HTTP request (see `TokenVaultClientOptions`). */
  client?: Omit<TokenVaultClientOptions, 'fetch'> | undefined
  /** Further scopes for `/bc-authorize`; `openid` is always sent. */
  scopes?: readonly string[] | undefined
  /** `audience` for `/bc-authorize`. */
  audience?: string | undefined
}

/**
 * Asks the end user through Auth0 CIBA (Client-Initiated Backchannel Authentication): the user
 * whose connected account the token comes from (`req.userId`, an Auth0 `sub`) gets a push / email
 * prompt showing the binding message and decides.
 *
 * Sends `/bc-authorize` with an `iss_sub` login hint, `scope=openid`, the binding message and RFC
 * 9396 `authorization_details` `[{ type: 'token_vault_scopes', agent_id, role, connection, scopes }]`,
 * then polls the token endpoint honouring `interval` (5 s when absent) and `slow_down` (+5 s).
 * The tokens CIBA issues are discarded.
 *
 * Decisions: approval → `{ approved: true, approver: { id: userId } }`; `access_denied` →
 * `{ approved: false }`; expiry (Auth0's `expires_in` or the request's `expiresAt`) and an
 * aborted `signal` → `{ approved: false, expired: true }` (`reason` `'expired'` or `'aborted'`).
 * Protocol failures reject with `TokenVaultExchangeError`; a request without `userId` rejects
 * with `InvalidTokenRequestError`.
 *
 * @example
 * ```ts
 * const vault = new ConstitutionalTokenVault({ policy, stepUp: { approver: new CibaApprover() } })
 * ```
 * @see https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-initiated-backchannel-authentication-flow
 * @see https://www.rfc-editor.org/rfc/rfc9396
 */
export class CibaApprover implements Approver {
  /** The resource owner decides, not a MACI role. */
  readonly kind = 'resource_owner' as const
  readonly #options: CibaApproverOptions
  readonly #now: () => number
  #client: CibaClient | undefined

  constructor(options: CibaApproverOptions = {}) {
    const expiry = options.requestedExpirySeconds
    if (expiry !== undefined && (!Number.isInteger(expiry) || expiry < 1)) {
      throw new TypeError('requestedExpirySeconds must be a positive integer')
    }
    this.#options = options
    this.#now = options.client?.now ?? Date.now
  }

  #cibaClient(): CibaClient {
    if (!this.#client) {
      const config = resolveAuth0Config(this.#options.auth0, this.#options.env ?? process.env)
      this.#client = new CibaClient(config, { ...this.#options.client, fetch: this.#options.fetch })
    }
    return this.#client
  }

  /**
   * Starts a CIBA request for `req.userId` and waits for the user's decision.
   *
   * @throws {@link InvalidTokenRequestError} when `req.userId` is missing
   * @throws {@link TokenVaultExchangeError} when Auth0 cannot be asked
   */
  async requestApproval(req: StepUpRequest, options: ApprovalOptions = {}): Promise<StepUpDecision> {
    const userId = req.userId
    if (typeof userId !== 'string' || userId === '') {
      throw new InvalidTokenRequestError(
        'CIBA step-up needs the request userId (the Auth0 sub of the user whose account is used)',
      )
    }
    const { signal } = options
    const approver = { id: userId }
    const expired = (reason: 'expired' | 'aborted'): StepUpDecision => ({
      approved: false,
      expired: true,
      approver,
      reason,
      decidedAt: this.#now(),
    })
    if (signal?.aborted) return expired('aborted')
    const client = this.#cibaClient()
    const bindingMessage =
      sanitizeBindingMessage(req.bindingMessage ?? '') ||
      buildBindingMessage(req.agentId, req.connection, req.scopes)
    const requestedExpirySeconds =
      this.#options.requestedExpirySeconds ??
      Math.min(PUSH_MAX_EXPIRY_SECONDS, Math.max(1, Math.ceil((req.expiresAt - this.#now()) / 1000)))
    let authorization: Awaited<ReturnType<CibaClient['authorize']>>
    try {
      authorization = await client.authorize({
        userId,
        bindingMessage,
        scopes: this.#options.scopes,
        audience: this.#options.audience,
        requestedExpirySeconds,
        authorizationDetails: [
          {
            type: 'token_vault_scopes',
            agent_id: req.agentId,
            role: req.role,
            connection: req.connection,
            scopes: [...req.scopes],
          },
        ],
        signal,
      })
    } catch (err) {
      if (signal?.aborted || (err instanceof TokenVaultExchangeError && err.error === 'aborted'))
        return expired('aborted')
      throw err
    }
    const decision = await client.waitForDecision(authorization, {
      signal,
      expectedSubject: userId,
      deadline: Number.isFinite(req.expiresAt) ? req.expiresAt : undefined,
    })
    switch (decision.status) {
      case 'approved':
        return { approved: true, approver, decidedAt: decision.decidedAt }
      case 'denied':
        return { approved: false, approver, reason: 'denied by the user', decidedAt: decision.decidedAt }
      case 'expired':
        return expired('expired')
      case 'aborted':
        return expired('aborted')
    }
  }
}
