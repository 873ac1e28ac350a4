/**
 * `withConstitutionalTokenVault` for plain async functions, and the request resolution and
 * credential scoping the framework adapters share.
 */
import { AgentContextMissingError } from '../errors.js'
import type { MACIScopePolicy } from '../policy/index.js'
import { ConstitutionalTokenVault } from '../vault/index.js'
import type { TokenVaultRequest, TokenVaultResponse } from '../vault/types.js'
import { type AgentContext, createCredentials, currentAgentContext, runWithCredentials } from './context.js'

/** A value or a promise of it. */
export type MaybePromise<T> = T | PromiseLike<T>

/** The agent's identity: who asks, and in which MACI role. */
export interface AgentIdentity {
  agentId: string
  role: string
}

/** The Token Vault subject token: the end user's Auth0 refresh token or access token. */
export type SubjectToken =
  | { refreshToken: string; accessToken?: undefined }
  | { accessToken: string; refreshToken?: undefined }

/**
 * Anything with the vault's `exchange`: a {@link ConstitutionalTokenVault}, or a test double.
 */
export interface TokenVaultLike {
  /** The governed exchange: decides, audits, and returns a token or throws. */
  exchange(request: TokenVaultRequest): Promise<TokenVaultResponse>
}

/** A policy (a vault is built for it from the environment) or a vault to use. */
export type PolicyOrVault = MACIScopePolicy | TokenVaultLike

/**
 * Where a governed call gets its agent and subject token from. Each resolver receives the
 * arguments of the call it governs (for the framework adapters: the tool input and the
 * framework's call options). A resolver that returns `undefined` defers to the next source
 * (the framework's run config, then {@link runAsAgent}); an empty string never does — it counts
 * as missing and the call fails with `AgentContextMissingError`.
 */
export interface GovernanceResolvers<Args extends readonly unknown[]> {
  /** @defaultValue the ambient {@link runAsAgent} context */
  getAgentContext?: ((...args: Args) => MaybePromise<AgentIdentity | undefined>) | undefined
  /** @defaultValue the ambient {@link runAsAgent} context's `refreshToken` / `accessToken` */
  getSubjectToken?: ((...args: Args) => MaybePromise<SubjectToken | undefined>) | undefined
  /** @defaultValue the ambient {@link runAsAgent} context's `userId` */
  getUserId?: ((...args: Args) => MaybePromise<string | undefined>) | undefined
  /** @defaultValue the ambient {@link runAsAgent} context's `loginHint` */
  getLoginHint?: ((...args: Args) => MaybePromise<string | undefined>) | undefined
}

/** What a governed function needs and where its agent comes from. */
export interface WithConstitutionalTokenVaultOptions<Args extends readonly unknown[] = never[]>
  extends GovernanceResolvers<Args> {
  /** The Auth0 connection (`github`, `google-oauth2`, ...). */
  connection: string
  /** The scopes the function needs; the constitution decides whether the agent's role may have them. */
  scopes: readonly string[]
  /** The name the audit log records. @defaultValue the wrapped function's `name` */
  toolName?: string | undefined
}

/**
 * The governed form of `F`: same parameters and `this`, always asynchronous.
 *
 * @typeParam F - the wrapped function's type
 */
export type GovernedFunction<F extends (...args: never[]) => unknown> = (
  this: ThisParameterType<F>,
  ...args: Parameters<F>
) => Promise<Awaited<ReturnType<F>>>

/**
 * Wraps functions with one governed exchange per call.
 *
 * @typeParam Args - the parameters the resolvers receive
 * @typeParam F - the wrapped function's type
 */
export type ConstitutionalWrapper<Args extends readonly unknown[] = never[]> = <
  F extends (...args: Args) => unknown,
>(
  fn: F,
) => GovernedFunction<F>

const vaults = new WeakMap<object, TokenVaultLike>()

function isVaultLike(value: unknown): value is TokenVaultLike {
  return (
    typeof value === 'object' && value !== null && typeof (value as TokenVaultLike).exchange === 'function'
  )
}

/**
 * The vault for a policy or vault argument. A policy gets one vault per policy object (built
 * from the environment), shared by every wrapper made with it, so they share its token cache
 * and audit log. @internal
 */
export function toVault(policyOrVault: PolicyOrVault): TokenVaultLike {
  if (isVaultLike(policyOrVault)) return policyOrVault
  if (
    typeof policyOrVault !== 'object' ||
    policyOrVault === null ||
    typeof (policyOrVault as { validate?: unknown }).validate !== 'function'
  ) {
    throw new TypeError(
      'withConstitutionalTokenVault: expected a MACIScopePolicy or a ConstitutionalTokenVault',
    )
  }
  let vault = vaults.get(policyOrVault)
  if (vault === undefined) {
    vault = new ConstitutionalTokenVault({ policy: policyOrVault })
    vaults.set(policyOrVault, vault)
  }
  return vault
}

/** Checks the options a wrapper is made with (programmer mistakes are `TypeError`s). @internal */
export function checkOptions(value: unknown): void {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError('withConstitutionalTokenVault: options must be an object')
  }
  const options = value as Record<string, unknown>
  if (typeof options.connection !== 'string' || options.connection.length === 0) {
    throw new TypeError('withConstitutionalTokenVault: options.connection must be a non-empty string')
  }
  if (!Array.isArray(options.scopes) || !options.scopes.every((s) => typeof s === 'string')) {
    throw new TypeError('withConstitutionalTokenVault: options.scopes must be an array of strings')
  }
  for (const key of ['getAgentContext', 'getSubjectToken', 'getUserId', 'getLoginHint'] as const) {
    const resolver = options[key]
    if (resolver !== undefined && typeof resolver !== 'function') {
      throw new TypeError(`withConstitutionalTokenVault: options.${key} must be a function`)
    }
  }
}

/** A source the adapters put between the resolvers and the ambient context (e.g. LangChain's `configurable`). @internal */
export type ContextSource = { [K in keyof AgentContext]?: string | undefined }

function missing(toolName: string | undefined, what: string, hint: string): AgentContextMissingError {
  const tool = toolName ? ` for "${toolName}"` : ''
  return new AgentContextMissingError(
    `no ${what}${tool}: ${hint}, or run the call inside runAsAgent(). acgs-auth0 never uses a default identity`,
  )
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** Extra fields of the request that do not come from the resolvers. @internal */
export interface RequestExtras {
  toolName?: string | undefined
  stepUpId?: string | undefined
  signal?: AbortSignal | undefined
  /** Sources consulted after the resolvers and before the ambient context, in order. */
  sources?: readonly ContextSource[] | undefined
  /** Names the framework source in error messages (e.g. `config.configurable.agent_id`). */
  hint?: { identity: string; subject: string } | undefined
}

/**
 * Builds the Token Vault request for one governed call: identity, subject token, user id and
 * login hint from the resolvers, then the extra sources, then the ambient {@link runAsAgent}
 * context. Identity and subject token are taken whole from one source each, never pieced
 * together from several. @internal
 */
export async function resolveRequest<Args extends readonly unknown[]>(
  options: WithConstitutionalTokenVaultOptions<Args>,
  args: Args,
  extras: RequestExtras = {},
): Promise<TokenVaultRequest> {
  const ambient = currentAgentContext()
  const sources: ContextSource[] = [...(extras.sources ?? [])]
  if (ambient !== undefined) sources.push(ambient)
  const toolName = extras.toolName ?? options.toolName
  const identityHint = extras.hint?.identity ?? 'pass getAgentContext'
  const subjectHint = extras.hint?.subject ?? 'pass getSubjectToken'

  let identity: unknown = options.getAgentContext ? await options.getAgentContext(...args) : undefined
  if (!present(identity)) {
    const source = sources.find((s) => present(s.agentId) || present(s.role))
    if (source) identity = { agentId: source.agentId, role: source.role }
  }
  const agentId = (identity as Partial<AgentIdentity> | undefined)?.agentId
  const role = (identity as Partial<AgentIdentity> | undefined)?.role
  if (!nonEmpty(agentId) || !nonEmpty(role)) {
    throw missing(toolName, 'agent identity (agentId and role)', identityHint)
  }

  let subject: unknown = options.getSubjectToken ? await options.getSubjectToken(...args) : undefined
  if (!present(subject)) {
    // Token fields of the ambient context are non-enumerable: read them by name.
    const source = sources.find((s) => present(s.refreshToken) || present(s.accessToken))
    if (source) subject = { refreshToken: source.refreshToken, accessToken: source.accessToken }
  }
  const refreshToken = (subject as { refreshToken?: unknown } | undefined)?.refreshToken
  const accessToken = (subject as { accessToken?: unknown } | undefined)?.accessToken
  const hasRefresh = nonEmpty(refreshToken)
  const hasAccess = nonEmpty(accessToken)
  if (hasRefresh === hasAccess) {
    if (hasRefresh)
      throw new TypeError('the subject token must be either a refreshToken or an accessToken, not both')
    throw missing(toolName, 'subject token (refreshToken or accessToken)', subjectHint)
  }

  let userId: unknown = options.getUserId ? await options.getUserId(...args) : undefined
  if (!present(userId)) userId = sources.find((s) => present(s.userId))?.userId
  let loginHint: unknown = options.getLoginHint ? await options.getLoginHint(...args) : undefined
  if (!present(loginHint)) loginHint = sources.find((s) => present(s.loginHint))?.loginHint

  const request: TokenVaultRequest = {
    agentId,
    role,
    connection: options.connection,
    scopes: [...options.scopes],
  }
  if (hasRefresh) request.refreshToken = refreshToken as string
  else request.accessToken = accessToken as string
  if (nonEmpty(userId)) request.userId = userId
  if (nonEmpty(loginHint)) request.loginHint = loginHint
  if (toolName) request.toolName = toolName
  if (extras.stepUpId !== undefined) request.stepUpId = extras.stepUpId
  if (extras.signal !== undefined) request.signal = extras.signal
  return request
}

/**
 * Runs `fn` with the credentials of `response` as the ambient credentials, and retires them
 * when `fn` settles. @internal
 */
export async function runGoverned<T>(
  response: TokenVaultResponse,
  toolName: string,
  fn: () => T,
): Promise<Awaited<T>> {
  const { credentials, end } = createCredentials(response, toolName)
  try {
    return await runWithCredentials(credentials, fn)
  } finally {
    end()
  }
}

/**
 * Governs functions with the constitution: before each call, the agent's Token Vault exchange
 * for `options.scopes` on `options.connection` runs through the vault (validated, stepped up when
 * high-risk, audited); inside the call {@link getTokenVaultCredentials} returns the token.
 * A denial rejects the call with the vault's error and the function does not run.
 *
 * Two forms:
 * - `withConstitutionalTokenVault(policyOrVault, options)` returns a wrapper to apply to any
 *   number of functions;
 * - `withConstitutionalTokenVault(policyOrVault, options, fn)` wraps `fn` in one call.
 *
 * The agent (`agentId`, `role`) and the subject token come from the resolver options, else from
 * the ambient {@link runAsAgent} context; with neither the call rejects with
 * `AgentContextMissingError`. Passing a policy uses one vault per policy object, built from the
 * environment (`AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`); pass a vault to
 * choose its audit log, approver and Auth0 settings.
 *
 * @param policyOrVault - a `MACIScopePolicy`, or a `ConstitutionalTokenVault` (anything with its `exchange`)
 * @param options - the connection and scopes, the resolvers, and `toolName`
 * @throws TypeError for malformed options
 *
 * @example
 * ```ts
 * const withGithub = withConstitutionalTokenVault(policy, { connection: 'github', scopes: ['repo:read'] })
 * const listIssues = withGithub(async function listIssues(repo: string) {
 *   const { accessToken } = getTokenVaultCredentials()
 *   return fetchIssues(repo, accessToken)
 * })
 * await runAsAgent({ agentId: 'planner', role: 'EXECUTIVE', refreshToken }, () => listIssues('acme/api'))
 * ```
 */
export function withConstitutionalTokenVault<Args extends readonly unknown[] = never[]>(
  policyOrVault: PolicyOrVault,
  options: WithConstitutionalTokenVaultOptions<Args>,
): ConstitutionalWrapper<Args>
/**
 * Wraps `fn` in one call: the same as `withConstitutionalTokenVault(policyOrVault, options)(fn)`.
 *
 * @typeParam F - the wrapped function's type
 */
export function withConstitutionalTokenVault<F extends (...args: never[]) => unknown>(
  policyOrVault: PolicyOrVault,
  options: WithConstitutionalTokenVaultOptions<Parameters<F>>,
  fn: F,
): GovernedFunction<F>
export function withConstitutionalTokenVault(
  policyOrVault: PolicyOrVault,
  options: WithConstitutionalTokenVaultOptions<readonly unknown[]>,
  fn?: (...args: unknown[]) => unknown,
): ConstitutionalWrapper<readonly unknown[]> | GovernedFunction<(...args: unknown[]) => unknown> {
  checkOptions(options)
  const vault = toVault(policyOrVault)
  const wrap = <F extends (...args: readonly unknown[]) => unknown>(target: F): GovernedFunction<F> => {
    if (typeof target !== 'function') throw new TypeError('withConstitutionalTokenVault: expected a function')
    const toolName = options.toolName ?? (target.name || undefined)
    const governed = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const request = await resolveRequest(options, args, { toolName })
      const response = await vault.exchange(request)
      return runGoverned(response, toolName ?? 'anonymous function', () => target.apply(this, args))
    }
    Object.defineProperty(governed, 'name', { value: target.name, configurable: true })
    return governed as GovernedFunction<F>
  }
  return fn === undefined ? (wrap as ConstitutionalWrapper<readonly unknown[]>) : wrap(fn)
}
