/** Public types of the Auth0 Token Vault emulator (`acgs-auth0/emulator`). */

/** A confidential client the emulated tenant knows. */
export interface EmulatorClient {
  clientId: string
  clientSecret: string
}

/** A user of the emulated tenant, with the connected accounts Token Vault holds for them. */
export interface EmulatorUser {
  /** The Auth0 user id (`sub`), e.g. `auth0|alice`. Named by CIBA `login_hint`s. */
  userId: string
  /** The Auth0 refresh token a client exchanges (`subject_token_type` refresh_token). */
  refreshToken: string
  /** Optional Auth0 access token accepted as subject (`subject_token_type` access_token). */
  accessToken?: string
  /** Granted scopes per connection (`github`, `google-oauth2`, ...): the user's default account. */
  connections: Record<string, string[]>
  /** Further accounts on a connection, selected by `login_hint`: connection → login hint → granted scopes. */
  accounts?: Record<string, Record<string, string[]>>
}

/** Options of {@link startTokenVaultEmulator}. */
export interface EmulatorOptions {
  /** TCP port; 0 picks a free one. @defaultValue `0` */
  port?: number
  /** Interface to listen on; a loopback address. @defaultValue `'127.0.0.1'` */
  host?: string
  clients: EmulatorClient[]
  users: EmulatorUser[]
  /** Per-client limit over `/oauth/token` and `/bc-authorize` together: `max` requests per `perSeconds` window. */
  rateLimit?: { max: number; perSeconds: number }
  /** `expires_in` of issued access tokens, in seconds. @defaultValue `3600` */
  tokenExpiresIn?: number
  /** CIBA: polling `interval` and default `expires_in` of a back-channel request, in seconds. @defaultValue `{ interval: 5, expiresIn: 300 }` */
  ciba?: { interval?: number; expiresIn?: number }
  /** The clock, in epoch milliseconds. @defaultValue `Date.now` */
  now?: () => number
}

/**
 * A fault the next matching requests get instead of normal handling.
 *
 * With only `latencyMs` (and optionally `headers`), the request is delayed and then handled
 * normally. With `status` and/or `body`, that answer replaces the normal one (an Auth0-style
 * error body is made up for an error `status` without `body`).
 */
export interface EmulatorFault {
  /** Only requests to this path; any path when absent. */
  path?: '/oauth/token' | '/bc-authorize'
  /** How many requests get the fault. @defaultValue `1` */
  times?: number
  /** HTTP status of the answer. @defaultValue `200` for `malformed`, otherwise the normal status */
  status?: number
  /** Answer body: a string is sent as it is, an object as JSON. */
  body?: string | object
  /** Extra answer headers, e.g. `{ 'retry-after': '2' }`. */
  headers?: Record<string, string>
  /** Delay before answering, in milliseconds; a large value makes a hung response. */
  latencyMs?: number
  /** Answer a truncated, non-JSON body with a JSON content type. */
  malformed?: boolean
  /** Destroy the connection without answering. */
  reset?: boolean
}

/** A pending CIBA request, as {@link TokenVaultEmulator.pending} lists it. */
export interface EmulatorPendingRequest {
  authReqId: string
  userId: string
  bindingMessage: string
  scope: string
  authorizationDetails: unknown
  /** Epoch milliseconds. */
  expiresAt: number
}

/** One handled request. Holds no secret, token, refresh token or client id. */
export interface EmulatorRequestRecord {
  method: string
  path: string
  grantType?: string
  connection?: string
  scope?: string
  /** HTTP status answered; 0 when the connection was reset without an answer. */
  status: number
  /** Epoch milliseconds (the emulator's clock). */
  at: number
}

/** A running emulator. */
export interface TokenVaultEmulator {
  /** Origin, e.g. `http://127.0.0.1:41234`; use it as `AUTH0_DOMAIN`. */
  readonly url: string
  /** Stops listening, closes every connection (keep-alive ones too) and clears pending delays. */
  close(): Promise<void>
  /** The user approves a pending CIBA request. Throws for an unknown or finished id. */
  approve(authReqId: string): void
  /** The user denies a pending CIBA request. Throws for an unknown or finished id. */
  deny(authReqId: string): void
  /** Undecided, unexpired CIBA requests. */
  pending(): EmulatorPendingRequest[]
  /** A copy of the request log, oldest first (the newest 10 000 requests). */
  readonly requests: EmulatorRequestRecord[]
  /** Queues a fault for the next matching requests. */
  inject(fault: EmulatorFault): void
  /** Drops every queued fault. */
  clearFaults(): void
  /** Revokes a refresh token: later exchanges with it get `invalid_grant`. Returns whether it was known. */
  revoke(refreshToken: string): boolean
}
