import * as oauth from 'oauth4webapi'
import { defineSecret } from '../lib/secret.js'
import type { Auth0Config } from './config.js'
import {
  Auth0Endpoint,
  authorizationServer,
  type Operation,
  operation,
  processResponse,
  type RequestPolicy,
  sleep,
  withRetries,
} from './http.js'
import type { TokenVaultExchangeParams, TokenVaultExchangeResult } from './types.js'

/** The Token Vault grant type (Auth0 Authentication API, "Token Vault token exchange"). */
export const TOKEN_VAULT_GRANT_TYPE =
  'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token'
/** The token type Token Vault issues. */
export const FEDERATED_ACCESS_TOKEN_TYPE =
  'http://auth0.com/oauth/token-type/federated-connection-access-token'

/** Options of {@link TokenVaultClient}. */
export interface TokenVaultClientOptions {
  /** The `fetch` to send requests with. @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined
  /** Time allowed for one attempt (request and response body). @defaultValue `10_000` */
  timeoutMs?: number | undefined
  /** How many times a 429, 5xx, timeout or network error is retried. @defaultValue `3` */
  maxRetries?: number | undefined
  /** First backoff ceiling; doubles per retry, full jitter. @defaultValue `200` */
  retryBaseDelayMs?: number | undefined
  /**
   * Longest wait before a retry. A `Retry-After` / `x-ratelimit-reset` asking for longer ends
   * the retries at once (the error is still `retryable`). @defaultValue `10_000`
   */
  retryMaxDelayMs?: number | undefined
  /** Source of jitter in [0, 1). @defaultValue `Math.random` */
  random?: (() => number) | undefined
  /** Clock in epoch milliseconds, for `expiresAt` and HTTP-date hints. @defaultValue `Date.now` */
  now?: (() => number) | undefined
  /**
   * Waits before a retry (and between CIBA polls); must reject when `signal` aborts.
   * @defaultValue a `setTimeout`-based wait (so fake timers drive it)
   */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined
}

/** @internal Fills defaults and checks option types. */
export function requestPolicy(options: TokenVaultClientOptions): RequestPolicy {
  const num = (value: number | undefined, fallback: number, name: string, min: number): number => {
    const v = value ?? fallback
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      throw new TypeError(`options.${name} must be a finite number >= ${min}`)
    }
    return v
  }
  return {
    fetch: options.fetch,
    timeoutMs: num(options.timeoutMs, 10_000, 'timeoutMs', 1),
    maxRetries: Math.floor(num(options.maxRetries, 3, 'maxRetries', 0)),
    retryBaseDelayMs: num(options.retryBaseDelayMs, 200, 'retryBaseDelayMs', 0),
    retryMaxDelayMs: num(options.retryMaxDelayMs, 10_000, 'retryMaxDelayMs', 0),
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    sleep: options.sleep ?? sleep,
  }
}

/** Context for {@link processTokenVaultExchangeResponse}. */
export interface ProcessExchangeOptions {
  /** The scopes that were requested: the result's `scope` when the answer has none. */
  scopes: readonly string[]
  /** Values sent with the request (the subject token) to remove from any upstream text. */
  secrets?: readonly (string | undefined)[] | undefined
  /** @defaultValue `Date.now()` */
  now?: number | undefined
  /** Stops reading the body when it aborts. */
  signal?: AbortSignal | undefined
}

function checkExchangeSuccess(raw: Record<string, unknown>): string | undefined {
  if (typeof raw.access_token !== 'string' || raw.access_token === '')
    return 'access_token is missing or not a string'
  if (typeof raw.token_type !== 'string' || raw.token_type.toLowerCase() !== 'bearer') {
    return 'token_type is not Bearer'
  }
  const e = raw.expires_in
  if (typeof e !== 'number' || !Number.isFinite(e) || e < 0)
    return 'expires_in is missing or not a non-negative number'
  if (raw.scope !== undefined && typeof raw.scope !== 'string') return 'scope is not a string'
  if (raw.issued_token_type !== undefined && raw.issued_token_type !== FEDERATED_ACCESS_TOKEN_TYPE) {
    return 'issued_token_type is not a federated connection access token'
  }
  return undefined
}

/**
 * Turns the answer of Auth0's token endpoint to a Token Vault exchange into a
 * {@link TokenVaultExchangeResult}, or throws `TokenVaultExchangeError` with the HTTP status,
 * Auth0's `error` / `error_description` (secrets removed, at most 256 printable ASCII characters)
 * and whether a retry may help. No network: test it with `new Response(...)`.
 *
 * A success is refused unless `access_token` is a non-empty string, `token_type` is Bearer (any
 * case) and `expires_in` is a JSON number.
 *
 * @throws {@link TokenVaultExchangeError}
 * @see https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token
 */
export async function processTokenVaultExchangeResponse(
  config: Auth0Config,
  response: Response,
  options: ProcessExchangeOptions,
): Promise<TokenVaultExchangeResult> {
  return processExchange(
    operation('Token Vault exchange', config, options.secrets ?? []),
    authorizationServer(config),
    { client_id: config.clientId },
    response,
    options.scopes,
    options.now ?? Date.now(),
    options.signal,
  )
}

async function processExchange(
  op: Operation,
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  response: Response,
  scopes: readonly string[],
  now: number,
  signal: AbortSignal | undefined,
): Promise<TokenVaultExchangeResult> {
  const { raw } = await processResponse(
    op,
    response,
    now,
    (r) => oauth.processGenericTokenEndpointResponse(as, client, r),
    checkExchangeSuccess,
    signal,
  )
  const expiresIn = raw.expires_in as number
  const scopeReturned = typeof raw.scope === 'string'
  const scope = scopeReturned ? [...new Set((raw.scope as string).split(' ').filter(Boolean))] : [...scopes]
  const result = {
    tokenType: 'Bearer',
    expiresIn,
    expiresAt: now + expiresIn * 1000,
    scope,
    scopeReturned,
    issuedTokenType: FEDERATED_ACCESS_TOKEN_TYPE,
  }
  defineSecret(result, 'accessToken', raw.access_token as string)
  return result as typeof result & { readonly accessToken: string }
}

/**
 * Exchanges an Auth0 refresh token (or access token) for a connection's provider access token
 * through Auth0 Token Vault, on oauth4webapi.
 *
 * Sends exactly the form of DESIGN §7 (`grant_type`, `subject_token`, `subject_token_type`,
 * `requested_token_type`, `connection`, `scope` space-separated, `login_hint` when given) with
 * `client_secret_post` (or HTTP Basic). Each attempt has its own timeout; 429, 5xx, timeouts and
 * network errors are retried with exponential backoff and full jitter, honouring `Retry-After` and
 * `x-ratelimit-reset`; other 4xx answers are never retried; the caller's `signal` stops at once.
 *
 * @example
 * ```ts
 * const client = new TokenVaultClient(resolveAuth0Config())
 * const token = await client.exchange({
 *   subjectToken: refreshToken, subjectTokenType: 'refresh_token', connection: 'github', scopes: ['repo:read'],
 * })
 * ```
 * @see https://auth0.com/docs/secure/tokens/token-vault
 * @see https://www.rfc-editor.org/rfc/rfc8693
 */
export class TokenVaultClient {
  readonly #ep: Auth0Endpoint

  constructor(config: Auth0Config, options: TokenVaultClientOptions = {}) {
    this.#ep = new Auth0Endpoint(config, requestPolicy(options))
  }

  /** The settings this client talks to (no secret). */
  get config(): Auth0Config {
    return this.#ep.config
  }

  /**
   * Performs one Token Vault exchange (with retries).
   *
   * @throws {@link TokenVaultExchangeError} for every failure, including timeouts
   *   (`error: 'timeout'`), network errors (`'network_error'`), the caller's abort (`'aborted'`)
   *   and unacceptable answers (`'invalid_response'`)
   */
  async exchange(params: TokenVaultExchangeParams): Promise<TokenVaultExchangeResult> {
    const { subjectToken, subjectTokenType, connection, scopes, loginHint, signal } = params
    if (typeof subjectToken !== 'string' || subjectToken === '')
      throw new TypeError('subjectToken must be a non-empty string')
    if (subjectTokenType !== 'refresh_token' && subjectTokenType !== 'access_token') {
      throw new TypeError("subjectTokenType must be 'refresh_token' or 'access_token'")
    }
    if (typeof connection !== 'string' || connection === '')
      throw new TypeError('connection must be a non-empty string')
    const form = new URLSearchParams({
      subject_token: subjectToken,
      subject_token_type: `urn:ietf:params:oauth:token-type:${subjectTokenType}`,
      requested_token_type: FEDERATED_ACCESS_TOKEN_TYPE,
      connection,
    })
    if (scopes.length > 0) form.set('scope', scopes.join(' '))
    if (loginHint !== undefined && loginHint !== '') form.set('login_hint', loginHint)
    const policy = this.#ep.policy
    const op = operation('Token Vault exchange', this.#ep.config, [subjectToken])
    return withRetries(op, policy, signal, async (attemptSignal) => {
      const response = await oauth.genericTokenEndpointRequest(
        this.#ep.as,
        this.#ep.client,
        this.#ep.auth,
        TOKEN_VAULT_GRANT_TYPE,
        form,
        this.#ep.requestOptions(attemptSignal),
      )
      return processExchange(op, this.#ep.as, this.#ep.client, response, scopes, policy.now(), attemptSignal)
    })
  }
}
