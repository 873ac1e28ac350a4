/**
 * The two ambient, per-async-call contexts of the integrations: the agent an operation runs
 * as ({@link runAsAgent}) and the credentials a governed function received
 * ({@link getTokenVaultCredentials}). Both live in `AsyncLocalStorage`, so concurrent calls
 * never see each other's values.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { AgentContextMissingError } from '../errors.js'
import type { TokenVaultResponse } from '../vault/types.js'

const INSPECT = Symbol.for('nodejs.util.inspect.custom')

/**
 * Who an agent is and what it exchanges with: the ambient context set by {@link runAsAgent}.
 * Exactly one of `refreshToken` / `accessToken` is the subject token; it may also come from a
 * `getSubjectToken` resolver instead.
 */
export interface AgentContext {
  /** The agent's id, as the constitution's `agents:` section names it. */
  agentId: string
  /** The MACI role the agent acts in (`EXECUTIVE`, `IMPLEMENTER`, ...). */
  role: string
  /** The end user's Auth0 refresh token (the Token Vault subject token). */
  refreshToken?: string | undefined
  /** The end user's Auth0 access token, when exchanging with an access token instead. */
  accessToken?: string | undefined
  /** The end user's Auth0 `sub`; needed for CIBA step-up. */
  userId?: string | undefined
  /** Selects one of several accounts on the connection. */
  loginHint?: string | undefined
}

/**
 * What a governed function sees through {@link getTokenVaultCredentials}. `accessToken` is a
 * non-enumerable getter: it is absent from `JSON.stringify`, spreads and `util.inspect`, and it
 * throws {@link AgentContextMissingError} once the governed call has returned.
 */
export interface TokenVaultCredentials {
  /** The provider access token (GitHub, Google, ...). Readable only while the governed call runs. */
  readonly accessToken: string
  /** `Bearer`. */
  readonly tokenType: string
  /** Seconds the token was valid for when issued. */
  readonly expiresIn: number
  /** Epoch milliseconds. */
  readonly expiresAt: number
  /** The scopes the token carries. */
  readonly scope: readonly string[]
  /** The connection the token is for. */
  readonly connection: string
}

const agentStore = new AsyncLocalStorage<Readonly<AgentContext>>()

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new TypeError(`runAsAgent: ${name} must be a string`)
  return value
}

/**
 * Runs `fn` as an agent: every governed function called inside it (directly, after `await`, in
 * timers or in promises it starts) resolves the agent's id, role and subject token from `context`
 * unless a resolver option says otherwise. Nested calls replace the context for their extent.
 *
 * The subject tokens are kept as non-enumerable properties of an internal copy: logging the
 * context never prints them.
 *
 * @param context - `agentId` and `role` are required (an empty string counts as missing);
 *   at most one of `refreshToken` / `accessToken`
 * @param fn - the work to run; its return value (a promise too) is returned as it is
 * @throws AgentContextMissingError when `agentId` or `role` is missing or empty
 * @throws TypeError when both `refreshToken` and `accessToken` are given, or a field is not a string
 *
 * @example
 * ```ts
 * await runAsAgent({ agentId: 'planner', role: 'EXECUTIVE', refreshToken, userId: 'auth0|alice' }, () =>
 *   listIssues('acme/api'),
 * )
 * ```
 */
export function runAsAgent<T>(context: AgentContext, fn: () => T): T {
  if (typeof context !== 'object' || context === null)
    throw new TypeError('runAsAgent: context must be an object')
  if (typeof fn !== 'function') throw new TypeError('runAsAgent: fn must be a function')
  if (!isNonEmptyString(context.agentId) || !isNonEmptyString(context.role)) {
    throw new AgentContextMissingError(
      'runAsAgent needs a non-empty agentId and role: an agent never acts under a default identity',
    )
  }
  const refreshToken = optionalString(context.refreshToken, 'refreshToken')
  const accessToken = optionalString(context.accessToken, 'accessToken')
  if (refreshToken !== undefined && accessToken !== undefined) {
    throw new TypeError('runAsAgent: pass either refreshToken or accessToken, not both')
  }
  const stored: AgentContext = { agentId: context.agentId, role: context.role }
  const userId = optionalString(context.userId, 'userId')
  const loginHint = optionalString(context.loginHint, 'loginHint')
  if (userId !== undefined) stored.userId = userId
  if (loginHint !== undefined) stored.loginHint = loginHint
  if (refreshToken !== undefined) Object.defineProperty(stored, 'refreshToken', { value: refreshToken })
  if (accessToken !== undefined) Object.defineProperty(stored, 'accessToken', { value: accessToken })
  return agentStore.run(Object.freeze(stored), fn)
}

/** The context set by the innermost enclosing {@link runAsAgent}, if any. @internal */
export function currentAgentContext(): Readonly<AgentContext> | undefined {
  return agentStore.getStore()
}

/** One governed call's credentials; `live` turns false when the call settles. */
interface CredentialFrame {
  live: boolean
  readonly toolName: string
}

const credentialStore = new AsyncLocalStorage<TokenVaultCredentials>()

function expired(frame: CredentialFrame): AgentContextMissingError {
  return new AgentContextMissingError(
    `the Token Vault credentials of "${frame.toolName}" are no longer available: the governed call has returned`,
  )
}

/** Builds the credentials object a governed call exposes. @internal */
export function createCredentials(
  response: TokenVaultResponse,
  toolName: string,
): { credentials: TokenVaultCredentials; end: () => void } {
  const frame: CredentialFrame = { live: true, toolName }
  const token = response.accessToken
  const credentials = {
    tokenType: response.tokenType,
    expiresIn: response.expiresIn,
    expiresAt: response.expiresAt,
    scope: Object.freeze([...response.scope]),
    connection: response.connection,
  }
  Object.defineProperty(credentials, 'accessToken', {
    enumerable: false,
    get(): string {
      if (!frame.live) throw expired(frame)
      return token
    },
  })
  Object.defineProperty(credentials, INSPECT, {
    enumerable: false,
    value: () => ({ ...credentials, accessToken: '[REDACTED]' }),
  })
  Object.freeze(credentials)
  return {
    credentials: credentials as TokenVaultCredentials,
    end: () => {
      frame.live = false
    },
  }
}

/** Runs `fn` with `credentials` as the ambient credentials. @internal */
export function runWithCredentials<T>(credentials: TokenVaultCredentials, fn: () => T): T {
  return credentialStore.run(credentials, fn)
}

/**
 * The Token Vault credentials of the innermost governed function that is running.
 *
 * Each governed call has its own: concurrent calls never see each other's, and a governed
 * function called inside another gets its own while it runs. After the governed call has
 * returned (or thrown) the credentials are gone, also for timers and promises it left behind:
 * this function and the `accessToken` getter of a kept credentials object both throw. A token
 * string the function copied elsewhere cannot be taken back.
 *
 * @returns `{ accessToken, tokenType, expiresIn, expiresAt, scope, connection }`
 * @throws AgentContextMissingError outside a governed function, or after it returned
 *
 * @example
 * ```ts
 * const listIssues = withConstitutionalTokenVault(policy, { connection: 'github', scopes: ['repo:read'] },
 *   async (repo: string) => {
 *     const { accessToken } = getTokenVaultCredentials()
 *     const res = await fetch(`https://api.github.com/repos/${repo}/issues`, {
 *       headers: { authorization: `Bearer ${accessToken}` },
 *     })
 *     return res.json()
 *   })
 * ```
 */
export function getTokenVaultCredentials(): TokenVaultCredentials {
  const credentials = credentialStore.getStore()
  if (credentials === undefined) {
    throw new AgentContextMissingError(
      'getTokenVaultCredentials() was called outside a function wrapped by withConstitutionalTokenVault',
    )
  }
  // Reading the getter throws when the call that owns these credentials has returned.
  void credentials.accessToken
  return credentials
}
