import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto'
import { type Answer, oauthError, type Params, str } from './http.js'
import { newAccessToken } from './token-exchange.js'
import type { EmulatorPendingRequest, EmulatorUser } from './types.js'

/** CIBA's grant type at the token endpoint. */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba'

const BINDING_MESSAGE = /^[A-Za-z0-9 +\-_.,:#]{1,64}$/
/** Longest `requested_expiry` accepted, in seconds (Auth0's maximum for email and push). */
const MAX_REQUESTED_EXPIRY = 259_200

interface CibaRequest {
  authReqId: string
  clientId: string
  userId: string
  bindingMessage: string
  scope: string
  authorizationDetails: unknown
  expiresAt: number
  state: 'pending' | 'approved' | 'denied'
  lastPollAt: number | undefined
}

export interface CibaSettings {
  /** The listening address's issuer; a login hint may also name the issuer of the request's Host. */
  issuer: string
  interval: number
  expiresIn: number
  tokenExpiresIn: number
  now: () => number
  userById(userId: string): EmulatorUser | undefined
}

let signingKey: { privateKey: KeyObject; jwk: Record<string, unknown> } | undefined

/** The process-wide RS256 key the emulator signs ID tokens with (Auth0's default algorithm). */
function idTokenKey(): { privateKey: KeyObject; jwk: Record<string, unknown> } {
  if (!signingKey) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pub = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
    const kid = createHash('sha256')
      .update(JSON.stringify({ e: pub.e, kty: 'RSA', n: pub.n }))
      .digest('base64url')
    signingKey = { privateKey, jwk: { kty: 'RSA', n: pub.n, e: pub.e, kid, alg: 'RS256', use: 'sig' } }
  }
  return signingKey
}

/** The JSON Web Key Set that verifies the emulator's ID tokens (`/.well-known/jwks.json`). */
export function emulatorJwks(): { keys: Record<string, unknown>[] } {
  return { keys: [idTokenKey().jwk] }
}

function signIdToken(claims: Record<string, unknown>): string {
  const key = idTokenKey()
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${enc({ alg: 'RS256', typ: 'JWT', kid: key.jwk.kid })}.${enc(claims)}`
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`
}

/** Auth0's back-channel login (CIBA, poll mode): `/bc-authorize` and the `ciba` grant. */
export class CibaStore {
  readonly #requests = new Map<string, CibaRequest>()
  readonly #s: CibaSettings

  constructor(settings: CibaSettings) {
    this.#s = settings
  }

  /**
   * `POST /bc-authorize` (client already authenticated).
   *
   * @see https://auth0.com/docs/api/authentication/login/start-back-channel-login
   */
  authorize(params: Params, clientId: string, issuer: string): Answer {
    const scope = str(params, 'scope')
    if (!scope) return oauthError(400, 'invalid_request', 'Missing required parameter: scope')
    if (!scope.split(' ').includes('openid')) {
      return oauthError(400, 'invalid_request', 'The scope parameter must contain openid')
    }
    const hint = str(params, 'login_hint')
    if (!hint) return oauthError(400, 'invalid_request', 'Missing required parameter: login_hint')
    let parsed: unknown
    try {
      parsed = JSON.parse(hint)
    } catch {
      return oauthError(400, 'invalid_request', 'login_hint must be a JSON object')
    }
    const h = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>
    if (h.format !== 'iss_sub' || typeof h.sub !== 'string' || typeof h.iss !== 'string') {
      return oauthError(400, 'invalid_request', 'login_hint must use the iss_sub format with iss and sub')
    }
    if (h.iss !== issuer && h.iss !== this.#s.issuer)
      return oauthError(400, 'invalid_request', 'login_hint iss does not match the issuer')
    const user = this.#s.userById(h.sub)
    if (!user) return oauthError(400, 'unknown_user_id', 'The user in login_hint was not found')
    const bindingMessage = str(params, 'binding_message')
    if (!bindingMessage)
      return oauthError(400, 'invalid_request', 'Missing required parameter: binding_message')
    if (!BINDING_MESSAGE.test(bindingMessage)) {
      return oauthError(
        400,
        'invalid_binding_message',
        'binding_message must be at most 64 characters of letters, digits, spaces and +-_.,:#',
      )
    }
    let expiresIn = this.#s.expiresIn
    const rawExpiry = str(params, 'requested_expiry')
    if (rawExpiry !== undefined) {
      const n = Number(rawExpiry)
      if (!/^\d+$/.test(rawExpiry) || n < 1 || n > MAX_REQUESTED_EXPIRY) {
        return oauthError(400, 'invalid_request', 'requested_expiry must be an integer number of seconds')
      }
      expiresIn = n
    }
    let authorizationDetails: unknown
    const rawDetails = params.get('authorization_details')
    if (rawDetails !== undefined) {
      try {
        authorizationDetails = typeof rawDetails === 'string' ? JSON.parse(rawDetails) : rawDetails
      } catch {
        authorizationDetails = undefined
      }
      const ok =
        Array.isArray(authorizationDetails) &&
        authorizationDetails.every(
          (d) => d && typeof d === 'object' && typeof (d as { type?: unknown }).type === 'string',
        )
      if (!ok) {
        return oauthError(
          400,
          'invalid_authorization_details',
          'authorization_details must be a JSON array of objects with a type',
        )
      }
    }
    const authReqId = randomBytes(18).toString('base64url')
    this.#requests.set(authReqId, {
      authReqId,
      clientId,
      userId: user.userId,
      bindingMessage,
      scope,
      authorizationDetails,
      expiresAt: this.#s.now() + expiresIn * 1000,
      state: 'pending',
      lastPollAt: undefined,
    })
    return {
      status: 200,
      body: { auth_req_id: authReqId, expires_in: expiresIn, interval: this.#s.interval },
    }
  }

  /**
   * `POST /oauth/token` with the `ciba` grant (client already authenticated).
   *
   * @see https://auth0.com/docs/api/authentication/login/check-back-channel-login-status
   */
  poll(params: Params, clientId: string, issuer: string): Answer {
    const id = str(params, 'auth_req_id')
    if (!id) return oauthError(400, 'invalid_request', 'Missing required parameter: auth_req_id')
    const r = this.#requests.get(id)
    if (!r || r.clientId !== clientId)
      return oauthError(400, 'invalid_grant', 'Invalid or expired auth_req_id')
    const now = this.#s.now()
    const last = r.lastPollAt
    r.lastPollAt = now
    if (now >= r.expiresAt || r.state === 'denied') {
      this.#requests.delete(id)
      return oauthError(
        400,
        'access_denied',
        'The end-user denied the authorization request or it has been expired',
      )
    }
    const interval = this.#s.interval
    if (last !== undefined && now - last < interval * 1000) {
      return oauthError(
        400,
        'slow_down',
        `You are polling faster than allowed. Try again in ${interval} seconds.`,
        {
          'retry-after': String(interval),
        },
      )
    }
    if (r.state === 'pending') {
      return oauthError(400, 'authorization_pending', 'The end-user authorization is pending')
    }
    this.#requests.delete(id)
    const iat = Math.floor(now / 1000)
    const body: Record<string, unknown> = {
      access_token: newAccessToken('emu_ciba_'),
      id_token: signIdToken({
        iss: issuer,
        sub: r.userId,
        aud: r.clientId,
        iat,
        exp: iat + this.#s.tokenExpiresIn,
        auth_time: iat,
      }),
      expires_in: this.#s.tokenExpiresIn,
      scope: r.scope,
      token_type: 'Bearer',
    }
    if (r.authorizationDetails !== undefined) body.authorization_details = r.authorizationDetails
    return { status: 200, body }
  }

  decide(authReqId: string, approved: boolean): void {
    const r = this.#requests.get(authReqId)
    if (r?.state !== 'pending' || this.#s.now() >= r.expiresAt) {
      throw new Error('no pending CIBA request with this auth_req_id')
    }
    r.state = approved ? 'approved' : 'denied'
  }

  pending(): EmulatorPendingRequest[] {
    const now = this.#s.now()
    const out: EmulatorPendingRequest[] = []
    for (const r of this.#requests.values()) {
      if (r.state !== 'pending' || now >= r.expiresAt) continue
      out.push({
        authReqId: r.authReqId,
        userId: r.userId,
        bindingMessage: r.bindingMessage,
        scope: r.scope,
        authorizationDetails: r.authorizationDetails,
        expiresAt: r.expiresAt,
      })
    }
    return out
  }
}
