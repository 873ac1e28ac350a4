/** Auth0 protocol-layer types (DESIGN §7). */

/** How the client authenticates to Auth0's token endpoint. */
export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic'

/** Auth0 settings; each missing one is read from the environment. */
export interface Auth0Options {
  /** `AUTH0_DOMAIN`: a bare tenant domain (https implied) or a full origin; plain http only on loopback. */
  domain?: string | undefined
  /** `AUTH0_CLIENT_ID` */
  clientId?: string | undefined
  /** `AUTH0_CLIENT_SECRET` */
  clientSecret?: string | undefined
  /** @defaultValue `'client_secret_post'` */
  clientAuth?: ClientAuthMethod | undefined
}

/** One Token Vault exchange, as the protocol layer sends it. */
export interface TokenVaultExchangeParams {
  /** The Auth0 refresh token or access token. */
  subjectToken: string
  subjectTokenType: 'refresh_token' | 'access_token'
  connection: string
  /** Sent as the space-separated `scope` parameter. */
  scopes: readonly string[]
  loginHint?: string | undefined
  signal?: AbortSignal | undefined
}

/**
 * A successful exchange. `accessToken` is a non-enumerable property: it is readable, but absent
 * from `JSON.stringify`, spreads and `util.inspect`.
 */
export interface TokenVaultExchangeResult {
  readonly accessToken: string
  tokenType: string
  expiresIn: number
  /** Epoch milliseconds. */
  expiresAt: number
  /** The returned `scope` split on spaces; the requested scopes when the answer had none (RFC 6749 §5.1). */
  scope: readonly string[]
  /** Whether the answer carried a `scope` at all. */
  scopeReturned: boolean
  issuedTokenType: string
}
