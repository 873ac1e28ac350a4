import * as oauth from 'oauth4webapi'
import { TokenVaultExchangeError } from '../errors.js'
import { defineSecret } from '../lib/secret.js'
import type { Auth0Config } from './config.js'
import { Auth0Endpoint, invalidSuccess, operation, processResponse, withRetries } from './http.js'
import { requestPolicy, type TokenVaultClientOptions } from './token-vault-client.js'

/** The CIBA grant type (OpenID Connect CIBA Core §10.1). */
export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba'
/** Poll interval when `/bc-authorize` names none (CIBA Core §7.3). */
export const CIBA_DEFAULT_INTERVAL_SECONDS = 5
/** Added to the interval on each `slow_down` (CIBA Core §11, RFC 8628 §3.5). */
export const CIBA_SLOW_DOWN_SECONDS = 5

/** One `/bc-authorize` request. */
export interface CibaAuthorizeParams {
  /** The Auth0 `sub` of the user asked; sent as an `iss_sub` login hint. */
  userId: string
  /** ≤ 64 characters of letters, digits, space and `+-_.,:#` (Auth0 refuses anything else). */
  bindingMessage: string
  /** Extra scopes; `openid` is always sent. */
  scopes?: readonly string[] | undefined
  /** RFC 9396 authorization details, sent as a JSON string. */
  authorizationDetails?: readonly Record<string, unknown>[] | undefined
  /** `requested_expiry` in seconds. */
  requestedExpirySeconds?: number | undefined
  audience?: string | undefined
  signal?: AbortSignal | undefined
}

/**
 * A started CIBA request. `authReqId` is non-enumerable: together with the client credentials it
 * redeems the user's tokens, so it stays out of logs and JSON.
 */
export interface CibaAuthorization {
  readonly authReqId: string
  /** Seconds, as Auth0 answered. */
  expiresIn: number
  /** Epoch milliseconds. */
  expiresAt: number
  /** Seconds between polls: Auth0's `interval`, else 5. */
  interval: number
}

/** The state of a CIBA request after one poll. Never carries the issued tokens. */
export type CibaPollResult =
  | { status: 'pending' }
  | { status: 'slow_down' }
  | { status: 'approved'; subject: string | undefined }
  | { status: 'denied'; errorDescription: string | undefined }
  | { status: 'expired' }

/** The final outcome of {@link CibaClient.waitForDecision}. */
export interface CibaDecision {
  status: 'approved' | 'denied' | 'expired' | 'aborted'
  /** The `sub` of the ID token, when the approval carried one. */
  subject?: string | undefined
  errorDescription?: string | undefined
  /** Epoch milliseconds. */
  decidedAt: number
}

/** Options of {@link CibaClient.poll} and {@link CibaClient.waitForDecision}. */
export interface CibaPollOptions {
  signal?: AbortSignal | undefined
  /** When the ID token of an approval names another `sub`, the approval is refused. */
  expectedSubject?: string | undefined
  /** Stop waiting at this epoch-ms time even if Auth0's request lives longer. */
  deadline?: number | undefined
}

/**
 * Auth0 Client-Initiated Backchannel Authentication on oauth4webapi: start a request at
 * `/bc-authorize`, then poll `/oauth/token` with `urn:openid:params:grant-type:ciba`.
 *
 * The tokens an approval yields are discarded: this client only learns *that* (and by whom) a
 * request was approved.
 *
 * @see https://auth0.com/docs/get-started/authentication-and-authorization-flow/client-initiated-backchannel-authentication-flow
 * @see https://openid.net/specs/openid-client-initiated-backchannel-authentication-core-1_0.html
 */
export class CibaClient {
  readonly #ep: Auth0Endpoint

  constructor(config: Auth0Config, options: TokenVaultClientOptions = {}) {
    this.#ep = new Auth0Endpoint(config, requestPolicy(options))
  }

  /**
   * Starts a CIBA request for `userId` (`login_hint` = `{"format":"iss_sub","iss":issuer,"sub":userId}`).
   *
   * @throws {@link TokenVaultExchangeError}
   * @see https://auth0.com/docs/api/authentication/login/start-back-channel-login
   */
  async authorize(params: CibaAuthorizeParams): Promise<CibaAuthorization> {
    if (typeof params.userId !== 'string' || params.userId === '')
      throw new TypeError('userId must be a non-empty string')
    const scopes = ['openid', ...(params.scopes ?? []).filter((s) => s !== 'openid')]
    const form = new URLSearchParams({
      scope: scopes.join(' '),
      login_hint: JSON.stringify({ format: 'iss_sub', iss: this.#ep.config.issuer, sub: params.userId }),
      binding_message: params.bindingMessage,
    })
    if (params.authorizationDetails)
      form.set('authorization_details', JSON.stringify(params.authorizationDetails))
    if (params.requestedExpirySeconds !== undefined) {
      form.set('requested_expiry', String(Math.floor(params.requestedExpirySeconds)))
    }
    if (params.audience) form.set('audience', params.audience)
    const op = operation('CIBA authorization request', this.#ep.config, [])
    const policy = this.#ep.policy
    return withRetries(op, policy, params.signal, async (signal) => {
      const response = await oauth.backchannelAuthenticationRequest(
        this.#ep.as,
        this.#ep.client,
        this.#ep.auth,
        form,
        this.#ep.requestOptions(signal),
      )
      const now = policy.now()
      const { raw } = await processResponse(
        op,
        response,
        now,
        (r) => oauth.processBackchannelAuthenticationResponse(this.#ep.as, this.#ep.client, r),
        checkAuthorizeSuccess,
        signal,
      )
      const expiresIn = raw.expires_in as number
      const result = {
        expiresIn,
        expiresAt: now + expiresIn * 1000,
        interval: typeof raw.interval === 'number' ? raw.interval : CIBA_DEFAULT_INTERVAL_SECONDS,
      }
      defineSecret(result, 'authReqId', raw.auth_req_id as string)
      return result as typeof result & { readonly authReqId: string }
    })
  }

  /**
   * Polls once. `authorization_pending`, `slow_down`, `access_denied` and `expired_token` are
   * states, not errors.
   *
   * @throws {@link TokenVaultExchangeError} for any other failure
   * @see https://auth0.com/docs/api/authentication/login/check-back-channel-login-status
   */
  async poll(
    authorization: Pick<CibaAuthorization, 'authReqId'>,
    options: CibaPollOptions = {},
  ): Promise<CibaPollResult> {
    const authReqId = authorization.authReqId
    const op = operation('CIBA token request', this.#ep.config, [authReqId])
    const policy = this.#ep.policy
    try {
      return await withRetries(op, policy, options.signal, async (signal) => {
        const response = await oauth.backchannelAuthenticationGrantRequest(
          this.#ep.as,
          this.#ep.client,
          this.#ep.auth,
          authReqId,
          this.#ep.requestOptions(signal),
        )
        const { value } = await processResponse(
          op,
          response,
          policy.now(),
          (r) => oauth.processBackchannelAuthenticationGrantResponse(this.#ep.as, this.#ep.client, r),
          (raw) => (typeof raw.access_token === 'string' ? undefined : 'access_token is missing'),
          signal,
        )
        const claims = oauth.getValidatedIdTokenClaims(value)
        const subject = claims?.sub
        if (
          options.expectedSubject !== undefined &&
          subject !== undefined &&
          subject !== options.expectedSubject
        ) {
          throw invalidSuccess(op, 'the ID token names another user than the one asked')
        }
        return { status: 'approved', subject } as const
      })
    } catch (err) {
      if (err instanceof TokenVaultExchangeError && err.status >= 400 && err.status < 500) {
        switch (err.error) {
          case 'authorization_pending':
            return { status: 'pending' }
          case 'slow_down':
            return { status: 'slow_down' }
          case 'access_denied':
            return { status: 'denied', errorDescription: err.errorDescription }
          case 'expired_token':
            return { status: 'expired' }
        }
      }
      throw err
    }
  }

  /**
   * Polls until the request is decided, expires (Auth0's `expires_in` or `options.deadline`,
   * whichever is first) or `options.signal` aborts. Waits `interval` seconds before each poll
   * and adds 5 seconds on each `slow_down`. An abort resolves `{ status: 'aborted' }`.
   *
   * @throws {@link TokenVaultExchangeError} for failures other than the states above
   */
  async waitForDecision(
    authorization: CibaAuthorization,
    options: CibaPollOptions = {},
  ): Promise<CibaDecision> {
    const { signal } = options
    const now = this.#ep.policy.now
    const deadline = Math.min(authorization.expiresAt, options.deadline ?? Number.POSITIVE_INFINITY)
    let intervalMs = Math.max(0, authorization.interval) * 1000
    for (;;) {
      if (signal?.aborted) return { status: 'aborted', decidedAt: now() }
      const remaining = deadline - now()
      if (remaining <= 0) return { status: 'expired', decidedAt: now() }
      try {
        await this.#ep.policy.sleep(Math.min(intervalMs, remaining), signal)
      } catch {
        return { status: 'aborted', decidedAt: now() }
      }
      let result: CibaPollResult
      try {
        result = await this.poll(authorization, options)
      } catch (err) {
        if (signal?.aborted) return { status: 'aborted', decidedAt: now() }
        throw err
      }
      switch (result.status) {
        case 'approved':
          return { status: 'approved', subject: result.subject, decidedAt: now() }
        case 'denied':
          // Auth0 answers access_denied for an expired request too.
          return now() >= deadline
            ? { status: 'expired', decidedAt: now() }
            : { status: 'denied', errorDescription: result.errorDescription, decidedAt: now() }
        case 'expired':
          return { status: 'expired', decidedAt: now() }
        case 'slow_down':
          intervalMs += CIBA_SLOW_DOWN_SECONDS * 1000
          break
        case 'pending':
          break
      }
    }
  }
}

function checkAuthorizeSuccess(raw: Record<string, unknown>): string | undefined {
  if (typeof raw.auth_req_id !== 'string' || raw.auth_req_id === '')
    return 'auth_req_id is missing or not a string'
  const e = raw.expires_in
  if (typeof e !== 'number' || !Number.isFinite(e) || e <= 0)
    return 'expires_in is missing or not a positive number'
  const i = raw.interval
  if (i !== undefined && (typeof i !== 'number' || !Number.isFinite(i) || i <= 0)) {
    return 'interval is not a positive number'
  }
  return undefined
}
