import { randomUUID } from 'node:crypto'
import { fingerprintToken } from '../audit/fingerprint.js'
import { TokenAuditLog } from '../audit/index.js'
import type { TokenAuditLogLike } from '../audit/log-like.js'
import type { AuditEntryInput, AuditOutcome } from '../audit/types.js'
import {
  Auth0Config,
  resolveAuth0Config,
  TokenVaultClient,
  type TokenVaultClientOptions,
} from '../auth0/index.js'
import type { Auth0Options, TokenVaultExchangeResult } from '../auth0/types.js'
import {
  AuditIntegrityError,
  AuditWriteError,
  ConstitutionalHashMismatchError,
  type ErrorCode,
  ExcessScopesError,
  InvalidTokenRequestError,
  RateLimitedError,
  StepUpAuthRequiredError,
  StepUpDeniedError,
  TokenVaultExchangeError,
  TokenVaultGovernanceError,
} from '../errors.js'
import { redact, sanitizeFreeText } from '../lib/secret.js'
import type { MACIScopePolicy } from '../policy/index.js'
import type { DecisionReason, PolicyValidationResult, ReasonCode, ScopeRule } from '../policy/types.js'
import { buildBindingMessage } from '../step-up/binding-message.js'
import type { Approver, StepUpDecision, StepUpRequest } from '../step-up/types.js'
import { rateLimitKey, SlidingWindowRateLimiter } from './rate-limit.js'
import { type StepUpSession, StepUpSessions, stepUpBinding } from './step-up-sessions.js'
import { cacheKeyOf, hashSubject, raceAbort, SubjectHashes, TokenCache } from './token-cache.js'
import type { StepUpOptions, TokenVaultRequest, TokenVaultResponse } from './types.js'

/** Options of {@link ConstitutionalTokenVault}. */
export interface ConstitutionalTokenVaultOptions {
  /** The constitution every request is decided by. */
  policy: MACIScopePolicy
  /** Where every decision is recorded. @defaultValue a new in-memory `TokenAuditLog` (`memory:`) */
  audit?: TokenAuditLogLike | undefined
  /**
   * Auth0 settings or a resolved config. Resolved on the first exchange, so a vault used only
   * for `validate()` needs no Auth0 settings. @defaultValue `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`
   */
  auth0?: Auth0Options | Auth0Config | undefined
  /** The constitutional hash this deployment trusts. @defaultValue `env.ACGS_CONSTITUTIONAL_HASH`, else the policy's own */
  constitutionalHash?: string | undefined
  /** Step-up approval. @defaultValue no approver: a high-risk request throws `StepUpAuthRequiredError` */
  stepUp?: StepUpOptions | undefined
  /** @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv | undefined
  /** The `fetch` Auth0 calls go through. @defaultValue `globalThis.fetch` */
  fetch?: typeof fetch | undefined
  /** Timeouts and retries of the Auth0 calls. */
  client?: TokenVaultClientOptions | undefined
  /**
   * The token cache, or `false` for none.
   * @defaultValue `{ maxEntries: 1000, skewMs: 60_000 }`
   */
  cache?: { maxEntries?: number | undefined; skewMs?: number | undefined } | false | undefined
  /** Clock in epoch milliseconds. @defaultValue `Date.now` */
  now?: (() => number) | undefined
}

/** Filters of {@link ConstitutionalTokenVault.invalidate}; every given field must match. */
export interface InvalidateFilter {
  connection?: string | undefined
  refreshToken?: string | undefined
  accessToken?: string | undefined
  loginHint?: string | undefined
}

interface CachedToken {
  readonly result: TokenVaultExchangeResult
  readonly fingerprint: string
  readonly expiresAt: number
}

interface Subject {
  type: 'refresh_token' | 'access_token'
  token: string
}

interface Approval {
  stepUpId: string
  decision: StepUpDecision
}

type Base = Pick<
  AuditEntryInput,
  | 'agentId'
  | 'role'
  | 'connection'
  | 'toolName'
  | 'userId'
  | 'requestedScopes'
  | 'constitutionalHash'
  | 'policyDigest'
>

const DENIAL_OUTCOMES: Partial<Record<ReasonCode, AuditOutcome>> = {
  invalid_request: 'denied_invalid_request',
  agent_role_not_assigned: 'denied_agent_role',
  role_not_permitted: 'denied_role_not_permitted',
  scope_violation: 'denied_scope_violation',
}

/** The error code a denial would carry, for `shadow_denied` entries (whose result carries no error). */
const DENIAL_ERROR_CODES: Partial<Record<ReasonCode, ErrorCode>> = {
  invalid_request: 'ERR_INVALID_REQUEST',
  agent_role_not_assigned: 'ERR_AGENT_ROLE_NOT_ASSIGNED',
  role_not_permitted: 'ERR_ROLE_NOT_PERMITTED',
  scope_violation: 'ERR_SCOPE_VIOLATION',
}

const MAX_STEP_UP_SESSIONS = 10_000

const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v)

/**
 * The one path by which an agent gets a token: every request is decided by the constitution,
 * high-risk scopes need a step-up approval, the Auth0 Token Vault exchange is made with exactly
 * the requested scopes, the answer is checked, and every decision is durably audited before
 * anything is returned or thrown.
 *
 * @example
 * ```ts
 * const policy = await MACIScopePolicy.fromYaml('constitution.yaml')
 * const audit = await TokenAuditLog.open('sqlite:./acgs-audit.db')
 * const vault = new ConstitutionalTokenVault({ policy, audit, stepUp: { approver: new CibaApprover() } })
 * const res = await vault.exchange({
 *   agentId: 'planner', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:read'], refreshToken,
 * })
 * await fetch('https://api.github.com/user', { headers: { authorization: `Bearer ${res.accessToken}` } })
 * ```
 * @see https://auth0.com/docs/secure/tokens/token-vault
 */
export class ConstitutionalTokenVault {
  /** The constitution this vault enforces. */
  readonly policy: MACIScopePolicy
  /** The constitutional hash pinned at construction (equal to the policy's). */
  readonly constitutionalHash: string

  #audit: TokenAuditLogLike | undefined
  #auditOpening: Promise<TokenAuditLogLike> | undefined
  readonly #auth0: Auth0Options | Auth0Config | undefined
  readonly #env: NodeJS.ProcessEnv
  readonly #fetch: typeof fetch | undefined
  readonly #clientOptions: TokenVaultClientOptions
  #client: TokenVaultClient | undefined
  readonly #cache: TokenCache<CachedToken> | undefined
  readonly #subjects = new SubjectHashes()
  readonly #rate: SlidingWindowRateLimiter
  readonly #sessions: StepUpSessions
  readonly #approver: Approver | undefined
  readonly #mode: 'block' | 'interrupt'
  readonly #timeoutMs: number
  readonly #now: () => number
  /** Errors whose audit entry is already written: rethrown as they are. */
  readonly #audited = new WeakSet<object>()

  /**
   * @throws {@link ConstitutionalHashMismatchError} when the pinned hash differs from the policy's
   * @throws `TypeError` on malformed options
   */
  constructor(options: ConstitutionalTokenVaultOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options are required')
    const { policy } = options
    if (typeof policy !== 'object' || policy === null || typeof policy.validate !== 'function') {
      throw new TypeError('options.policy must be a MACIScopePolicy')
    }
    const env = options.env ?? process.env
    const declared = policy.constitutionalHash
    const pinned = (options.constitutionalHash ?? (env.ACGS_CONSTITUTIONAL_HASH || undefined) ?? declared)
      .trim()
      .toLowerCase()
    if (pinned !== declared) throw new ConstitutionalHashMismatchError(pinned, declared)
    this.policy = policy
    this.constitutionalHash = declared
    this.#audit = options.audit
    this.#auth0 = options.auth0
    this.#env = env
    this.#fetch = options.fetch
    this.#clientOptions = options.client ?? {}
    this.#now = options.now ?? Date.now
    this.#cache =
      options.cache === false
        ? undefined
        : new TokenCache<CachedToken>({
            maxEntries: options.cache?.maxEntries,
            skewMs: options.cache?.skewMs,
            now: this.#now,
          })
    this.#rate = new SlidingWindowRateLimiter(this.#now)
    this.#sessions = new StepUpSessions(MAX_STEP_UP_SESSIONS, this.#now)
    const stepUp = options.stepUp ?? {}
    const mode = stepUp.mode ?? 'block'
    if (mode !== 'block' && mode !== 'interrupt')
      throw new TypeError("stepUp.mode must be 'block' or 'interrupt'")
    if (stepUp.approver !== undefined && typeof stepUp.approver?.requestApproval !== 'function') {
      throw new TypeError('stepUp.approver must have a requestApproval() method')
    }
    const seconds = policy.stepUp?.timeoutSeconds
    const timeoutMs = stepUp.timeoutMs ?? (seconds !== undefined ? seconds * 1000 : 300_000)
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new TypeError('stepUp.timeoutMs must be a positive number')
    this.#approver = stepUp.approver
    this.#mode = mode
    this.#timeoutMs = timeoutMs
  }

  /** The same decision as `policy.validate(request)`: synchronous, no I/O, nothing audited. */
  validate(request: TokenVaultRequest): PolicyValidationResult {
    return this.policy.validate(request)
  }

  /**
   * The audit log entries are written to (the default in-memory log is opened on first use).
   */
  async auditLog(): Promise<TokenAuditLogLike> {
    if (this.#audit) return this.#audit
    this.#auditOpening ??= TokenAuditLog.open('memory:').then((log) => {
      this.#audit = log
      return log
    })
    return this.#auditOpening
  }

  /**
   * Drops cached tokens matching `filter` (all of them when it is empty), for example after the
   * provider answered 401 to a token. Returns how many were dropped.
   */
  invalidate(filter: InvalidateFilter = {}): number {
    if (!this.#cache) return 0
    const base = { connection: filter.connection, loginHint: filter.loginHint }
    let dropped = 0
    if (filter.refreshToken !== undefined) {
      this.#subjects.delete('refresh_token', filter.refreshToken)
      dropped += this.#cache.invalidate({
        ...base,
        subjectHash: hashSubject('refresh_token', filter.refreshToken),
      })
    }
    if (filter.accessToken !== undefined) {
      this.#subjects.delete('access_token', filter.accessToken)
      dropped += this.#cache.invalidate({
        ...base,
        subjectHash: hashSubject('access_token', filter.accessToken),
      })
    }
    if (filter.refreshToken === undefined && filter.accessToken === undefined) {
      dropped += this.#cache.invalidate(base)
      if (filter.connection === undefined && filter.loginHint === undefined) this.#subjects.clear()
    }
    return dropped
  }

  /**
   * The governed exchange (DESIGN §5): validate → rate limit → step-up → token cache → Auth0
   * Token Vault exchange → returned-scope check → durable `granted` entry → token.
   *
   * The constitution's `rate_limit` is applied after the decision and before step-up, so that
   * an agent over its limit cannot make anyone approve anything; resuming a step-up it already
   * started is not counted again.
   *
   * @throws {@link InvalidTokenRequestError}, `MACIRoleAssignmentError`, `MACIRoleNotPermittedError`,
   * `ConstitutionalScopeViolation`, {@link RateLimitedError}, {@link StepUpAuthRequiredError},
   * {@link StepUpDeniedError}, {@link ExcessScopesError}, {@link TokenVaultExchangeError},
   * {@link AuditWriteError}, `AuditIntegrityError` — each after its audit entry is written
   * (except when the audit log itself fails).
   */
  exchange(request: TokenVaultRequest): Promise<TokenVaultResponse> {
    let subject: Subject | string
    let base: Base
    try {
      if (typeof request !== 'object' || request === null) throw new TypeError('request must be an object')
      subject = subjectOf(request)
      base = {
        agentId: str(request.agentId),
        role: str(request.role),
        connection: str(request.connection),
        toolName: request.toolName === undefined ? null : redactSubject(str(request.toolName), request),
        userId: request.userId === undefined ? null : str(request.userId),
        requestedScopes: Array.isArray(request.scopes) ? request.scopes.map(str) : [],
        constitutionalHash: this.constitutionalHash,
        policyDigest: this.policy.policyDigest,
      }
    } catch (err) {
      return Promise.reject(err)
    }
    // `.catch` rather than an `async` wrapper: one promise and no extra resumption per call.
    return this.#exchange(request, subject, base).catch((err: unknown) => this.#refuse(err, request, base))
  }

  /** The last line of fail-closed: an error nobody audited yet is audited as `error`, then thrown. */
  async #refuse(err: unknown, request: TokenVaultRequest, base: Base): Promise<never> {
    if (typeof err === 'object' && err !== null && this.#audited.has(err)) throw err
    const error =
      err instanceof TokenVaultGovernanceError
        ? err
        : new TokenVaultGovernanceError('the exchange failed unexpectedly and was refused', { cause: err })
    await this.#append({
      ...base,
      outcome: 'error',
      errorCode: error.code,
      reasons: [{ code: 'internal_error', message: redactSubject(error.message, request) }],
    }).catch(() => {})
    throw error
  }

  async #exchange(
    request: TokenVaultRequest,
    subject: Subject | string,
    base: Base,
  ): Promise<TokenVaultResponse> {
    // 1. the constitution decides
    const validation = this.policy.validate(request)
    if (typeof subject === 'string' && !hasReason(validation.reasons, 'invalid_request')) {
      // a request without exactly one subject token is malformed: refused in every mode
      return this.#deny(base, 'denied_invalid_request', new InvalidTokenRequestError(subject), {
        reasons: [{ code: 'invalid_request', message: subject }],
      })
    }
    if (!validation.permitted || typeof subject === 'string') {
      const code =
        validation.reasons.find((r) => DENIAL_OUTCOMES[r.code] !== undefined)?.code ?? 'invalid_request'
      return this.#deny(
        base,
        DENIAL_OUTCOMES[code] ?? 'denied_invalid_request',
        validation.error ?? new InvalidTokenRequestError('the request was denied'),
        { deniedScopes: validation.deniedScopes, reasons: validation.reasons },
      )
    }
    const shadow = this.policy.mode === 'shadow'
    if (validation.shadow) {
      await this.#append({
        ...base,
        outcome: 'shadow_denied',
        deniedScopes: validation.deniedScopes,
        reasons: validation.reasons,
        errorCode:
          validation.error?.code ??
          validation.reasons.map((r) => DENIAL_ERROR_CODES[r.code]).find((c) => c !== undefined) ??
          null,
      })
    }
    const stepUpScopes = validation.stepUpScopes

    // 2. the constitution's rate limit (a resumed step-up was counted when it started)
    const rule = this.policy.getRule(request.connection, request.role)
    const resuming = request.stepUpId !== undefined && stepUpScopes.length > 0 && this.#approver !== undefined
    if (rule?.rateLimit && !resuming) {
      const taken = this.#rate.take(
        rateLimitKey(request.agentId, request.connection, request.role),
        rule.rateLimit,
      )
      if (!taken.allowed) {
        const { max, perSeconds } = rule.rateLimit
        const message = `rate limit of ${max} per ${perSeconds} s for ${base.agentId} as ${base.role} on ${base.connection} exceeded`
        const reasons: DecisionReason[] = [{ code: 'rate_limited', message }]
        const error = new RateLimitedError(message, taken.retryAfterMs)
        if (!shadow) return this.#deny(base, 'denied_rate_limited', error, { reasons })
        await this.#append({ ...base, outcome: 'shadow_denied', reasons, errorCode: error.code })
      }
    }

    // 3. step-up: every release of a high-risk scope needs its own approval
    let approval: Approval | undefined
    if (stepUpScopes.length > 0) {
      const binding = stepUpBinding({
        agentId: request.agentId,
        role: request.role,
        connection: request.connection,
        scopes: request.scopes,
        subjectHash: this.#subjects.hash(subject.type, subject.token),
        loginHint: request.loginHint,
        userId: request.userId,
      })
      approval = await this.#stepUp(request, stepUpScopes, binding, base)
    }

    // 4. cache, 5. Auth0
    const scopes = dedupe(request.scopes)
    let token: CachedToken | undefined
    let cached = false
    try {
      if (this.#cache) {
        const key = cacheKeyOf(
          this.#subjects.hash(subject.type, subject.token),
          request.connection,
          request.loginHint,
          scopes,
        )
        token = this.#cache.get(key)
        if (token) {
          cached = true
        } else {
          const got = await this.#cache.getOrLoad(
            key,
            () => this.#upstream(request, subject, scopes),
            request.signal,
          )
          token = got.value
          cached = got.source !== 'loaded'
        }
      } else {
        const load = this.#upstream(request, subject, scopes)
        token = await (request.signal ? raceAbort(load, request.signal) : load)
      }
    } catch (err) {
      const error = upstreamError(err)
      const reason =
        error instanceof TokenVaultExchangeError
          ? `Auth0 Token Vault exchange failed: ${error.status || 'no response'} ${error.error}`
          : error.message
      return this.#deny(base, 'error', error, {
        errorCode: error.code,
        stepUpScopes,
        stepUpId: approval?.stepUpId ?? null,
        reasons: [{ code: 'upstream_error', message: redactSubject(reason, request) }],
      })
    }

    // 6. what came back must be what the role may hold, and high-risk only when approved now
    const returned = token.result.scope
    const sets = ruleSets(rule)
    let excess: string[] = NONE
    for (const scope of returned) {
      if (
        !sets.permitted.has(scope) ||
        (sets.highRisk.has(scope) && !(approval && stepUpScopes.includes(scope)))
      ) {
        if (excess === NONE) excess = []
        excess.push(scope)
      }
    }
    let grantReasons = validation.reasons
    const approverField = approval ? approverEntry(approval.decision) : null
    if (excess.length > 0) {
      const message = `Auth0 returned scopes the role may not hold here: ${excess.join(' ')}`
      if (this.policy.excessScopes === 'deny') {
        const error = new ExcessScopesError(message, excess)
        if (!shadow) {
          return this.#deny(base, 'denied_excess_scopes', error, {
            grantedScopes: [],
            excessScopes: excess,
            stepUpScopes,
            stepUpId: approval?.stepUpId ?? null,
            approver: approverField,
            cached,
            tokenFingerprint: token.fingerprint,
            reasons: [{ code: 'excess_scopes', message }],
          })
        }
        await this.#append({
          ...base,
          outcome: 'shadow_denied',
          excessScopes: excess,
          reasons: [{ code: 'excess_scopes', message }],
          errorCode: error.code,
        })
      }
      grantReasons = [...validation.reasons, { code: 'excess_scopes', message }]
    }

    // 7. durable `granted` entry, then the token. The hottest line of a cache hit: the entry is
    // one literal (no spread, so it keeps a fast shape) and the log is awaited directly.
    const entry: AuditEntryInput = {
      outcome: 'granted',
      agentId: base.agentId,
      role: base.role,
      connection: base.connection,
      toolName: base.toolName,
      userId: base.userId,
      requestedScopes: base.requestedScopes,
      grantedScopes: returned,
      deniedScopes: validation.deniedScopes,
      stepUpScopes,
      excessScopes: excess,
      reasons: grantReasons,
      cached,
      approver: approverField,
      constitutionalHash: base.constitutionalHash,
      policyDigest: base.policyDigest,
      tokenFingerprint: token.fingerprint,
      stepUpId: approval?.stepUpId ?? null,
    }
    try {
      await (this.#audit ?? (await this.auditLog())).append(entry)
    } catch (err) {
      throw this.#mark(auditFailure(err))
    }
    return new VaultTokenResponse(
      token.result,
      request.connection,
      cached,
      this.#now(),
      validation,
      excess,
      approval?.stepUpId,
    )
  }

  async #upstream(
    request: TokenVaultRequest,
    subject: Subject,
    scopes: readonly string[],
  ): Promise<CachedToken> {
    const result = await this.#getClient().exchange({
      subjectToken: subject.token,
      subjectTokenType: subject.type,
      connection: request.connection,
      // a copy: what is asked for (retries included) is what was validated, whatever the caller
      // does to its array meanwhile
      scopes: [...scopes],
      loginHint: request.loginHint,
    })
    return { result, fingerprint: fingerprintToken(result.accessToken), expiresAt: result.expiresAt }
  }

  #getClient(): TokenVaultClient {
    if (!this.#client) {
      const config =
        this.#auth0 instanceof Auth0Config ? this.#auth0 : resolveAuth0Config(this.#auth0 ?? {}, this.#env)
      const options: TokenVaultClientOptions = { ...this.#clientOptions }
      if (this.#fetch && !options.fetch) options.fetch = this.#fetch
      this.#client = new TokenVaultClient(config, options)
    }
    return this.#client
  }

  // ---- step-up -------------------------------------------------------------------------------

  async #stepUp(
    request: TokenVaultRequest,
    scopes: readonly string[],
    binding: string,
    base: Base,
  ): Promise<Approval> {
    const approver = this.#approver
    if (approver && request.stepUpId !== undefined)
      return this.#resume(str(request.stepUpId), binding, base, scopes)
    const now = this.#now()
    const stepUpRequest: StepUpRequest = {
      id: randomUUID(),
      agentId: request.agentId,
      role: request.role,
      connection: request.connection,
      scopes: [...scopes],
      toolName: request.toolName,
      userId: request.userId,
      bindingMessage: buildBindingMessage(request.agentId, request.connection, scopes),
      expiresAt: now + this.#timeoutMs,
    }
    await this.#append({
      ...base,
      outcome: 'step_up_initiated',
      stepUpScopes: scopes,
      stepUpId: stepUpRequest.id,
      reasons: [
        {
          code: 'step_up_required',
          message: `step-up approval required for ${scopes.join(' ')}${approver ? '' : ' (no approver configured)'}`,
        },
      ],
    })
    const required = new StepUpAuthRequiredError(
      `step-up approval required for ${scopes.join(' ')} on ${request.connection}`,
      {
        stepUpId: stepUpRequest.id,
        scopes: [...scopes],
        bindingMessage: stepUpRequest.bindingMessage,
        connection: request.connection,
      },
    )
    if (!approver) throw this.#mark(required)
    const session = this.#sessions.create(stepUpRequest, binding, stepUpRequest.expiresAt + this.#timeoutMs)
    this.#startApproval(approver, session, base)
    if (this.#mode === 'interrupt') throw this.#mark(required)
    if (request.signal) {
      try {
        await raceAbort(session.settled, request.signal)
      } catch (err) {
        session.controller.abort(err)
        throw err
      }
    } else {
      await session.settled
    }
    return this.#consume(session, binding, base, scopes)
  }

  async #resume(id: string, binding: string, base: Base, scopes: readonly string[]): Promise<Approval> {
    const session = this.#sessions.get(id)
    // A decision that has just arrived is still on its way through the promise queue.
    for (let i = 0; i < 4 && session?.state === 'pending'; i++) await Promise.resolve()
    if (!session) {
      return this.#deny(
        base,
        'step_up_denied',
        new StepUpDeniedError(`no step-up ${id} is known (it may have expired)`, 'unknown', id),
        {
          stepUpScopes: scopes,
          stepUpId: id,
          reasons: [{ code: 'step_up_unknown', message: 'unknown step-up id' }],
        },
      )
    }
    if (session.binding !== binding) {
      return this.#deny(
        base,
        'step_up_denied',
        new StepUpDeniedError(
          `step-up ${id} was approved for another agent, role, connection, subject or scope set`,
          'mismatch',
          id,
        ),
        {
          stepUpScopes: scopes,
          stepUpId: id,
          reasons: [
            {
              code: 'step_up_mismatch',
              message: `step-up ${id} covers ${session.request.scopes.join(' ')} on ${session.request.connection} for ${session.request.agentId}`,
            },
          ],
        },
      )
    }
    if (session.state === 'pending') {
      throw this.#mark(
        new StepUpAuthRequiredError(`step-up ${id} is still waiting for a decision`, {
          stepUpId: id,
          scopes: [...session.request.scopes],
          bindingMessage: session.request.bindingMessage,
          connection: session.request.connection,
        }),
      )
    }
    return this.#consume(session, binding, base, scopes)
  }

  #startApproval(approver: Approver, session: StepUpSession, base: Base): void {
    const req = session.request
    const delay = Math.max(0, req.expiresAt - this.#now())
    session.timer = setTimeout(() => {
      if (session.state !== 'pending') return
      session.state = 'expired'
      session.denyReason = 'expired'
      session.controller.abort(new DOMException('step-up approval timed out', 'TimeoutError'))
      this.#record(session, base, 'step_up_expired', null, {
        code: 'step_up_expired',
        message: `no decision within ${Math.round(this.#timeoutMs / 1000)} s`,
      })
    }, delay)
    session.timer.unref?.()
    let pending: Promise<StepUpDecision>
    try {
      pending = approver.requestApproval(req, { signal: session.controller.signal })
    } catch (err) {
      pending = Promise.reject(err)
    }
    Promise.resolve(pending).then(
      (decision) => this.#decide(approver, session, base, decision),
      (err: unknown) => {
        if (session.state !== 'pending') return
        if (session.timer) clearTimeout(session.timer)
        const error =
          err instanceof TokenVaultGovernanceError
            ? err
            : new StepUpDeniedError('the approver failed; the step-up is refused', 'approver_error', req.id, {
                cause: err,
              })
        session.state = 'failed'
        session.error = error
        session.denyReason = 'approver_error'
        this.#record(
          session,
          base,
          'error',
          null,
          { code: 'approver_error', message: error.message },
          error.code,
        )
      },
    )
  }

  #decide(approver: Approver, session: StepUpSession, base: Base, decision: StepUpDecision): void {
    if (session.state !== 'pending') return
    if (session.timer) clearTimeout(session.timer)
    const req = session.request
    const who = approverEntry(decision)
    session.decision = decision
    if (typeof decision !== 'object' || decision === null || typeof decision.approver?.id !== 'string') {
      session.state = 'denied'
      session.denyReason = 'approver_error'
      this.#record(session, base, 'step_up_denied', null, {
        code: 'approver_error',
        message: 'the approver answered no decision',
      })
      return
    }
    const deny = (
      reason: string,
      code: ReasonCode,
      message: string,
      outcome: AuditOutcome = 'step_up_denied',
    ) => {
      session.state = outcome === 'step_up_expired' ? 'expired' : 'denied'
      session.denyReason = reason
      this.#record(session, base, outcome, who, { code, message })
    }
    if (
      decision.expired === true ||
      (typeof decision.decidedAt === 'number' && decision.decidedAt > req.expiresAt)
    ) {
      deny(
        'expired',
        'step_up_expired',
        'the step-up request expired before it was approved',
        'step_up_expired',
      )
    } else if (decision.approved !== true) {
      const why = decision.reason ? `: ${sanitizeFreeText(str(decision.reason), [], 512)}` : ''
      deny('denied', 'step_up_denied', `denied by ${decision.approver.id}${why}`)
    } else if (decision.approver.id === req.agentId) {
      deny('self_approval', 'self_approval', `${req.agentId} may not approve its own request`)
    } else if (approver.kind !== 'resource_owner' && !this.policy.isApproverRole(decision.approver.role)) {
      deny(
        'approver_role',
        'approver_role',
        `${decision.approver.id} (role ${decision.approver.role ?? 'none'}) is not in step_up.approvers`,
      )
    } else {
      session.state = 'approved'
      session.usableUntil = this.#now() + this.#timeoutMs
      this.#record(session, base, 'step_up_approved', who, {
        code: 'step_up_approved',
        message: `approved by ${decision.approver.id}${decision.approver.role ? ` (${decision.approver.role})` : ''}`,
      })
    }
  }

  /** Writes the entry of a decision; the session counts only once it is durable. */
  #record(
    session: StepUpSession,
    base: Base,
    outcome: AuditOutcome,
    approver: AuditEntryInput['approver'],
    reason: DecisionReason,
    errorCode: string | null = null,
  ): void {
    session.recorded = this.#append({
      ...base,
      outcome,
      stepUpScopes: session.request.scopes,
      stepUpId: session.request.id,
      approver,
      errorCode,
      reasons: [reason],
    }).catch((err: unknown) => {
      session.state = 'failed'
      session.error =
        err instanceof Error ? err : new AuditWriteError('the step-up decision could not be audited')
      throw session.error
    })
    session.recorded.then(session.settle, session.settle)
  }

  async #consume(
    session: StepUpSession,
    binding: string,
    base: Base,
    scopes: readonly string[],
  ): Promise<Approval> {
    const id = session.request.id
    try {
      await session.recorded
    } catch {
      // the state is `failed` now
    }
    if (session.binding !== binding) throw new StepUpDeniedError('step-up binding changed', 'mismatch', id)
    switch (session.state) {
      case 'approved': {
        if (this.#now() > session.usableUntil) {
          session.state = 'expired'
          return this.#deny(
            base,
            'step_up_expired',
            new StepUpDeniedError(`the approval of step-up ${id} has expired`, 'expired', id),
            {
              stepUpScopes: scopes,
              stepUpId: id,
              reasons: [{ code: 'step_up_expired', message: 'the approval was not used in time' }],
            },
          )
        }
        session.state = 'used'
        return { stepUpId: id, decision: session.decision as StepUpDecision }
      }
      case 'used':
        return this.#deny(
          base,
          'step_up_denied',
          new StepUpDeniedError(`step-up ${id} was already used`, 'used', id),
          {
            stepUpScopes: scopes,
            stepUpId: id,
            reasons: [{ code: 'step_up_used', message: 'an approval is good for one release' }],
          },
        )
      case 'failed':
        throw this.#mark(session.error ?? new AuditWriteError('the step-up failed'))
      case 'pending':
        throw this.#mark(
          new StepUpAuthRequiredError(`step-up ${id} is still waiting for a decision`, {
            stepUpId: id,
            scopes: [...session.request.scopes],
            bindingMessage: session.request.bindingMessage,
            connection: session.request.connection,
          }),
        )
      default: {
        const reason = session.denyReason ?? 'denied'
        const text =
          reason === 'expired'
            ? `step-up ${id} expired without an approval`
            : reason === 'self_approval'
              ? `step-up ${id} was approved by the requesting agent itself, which does not count`
              : reason === 'approver_role'
                ? `step-up ${id} was approved by a role that may not approve`
                : `step-up ${id} was denied`
        throw this.#mark(new StepUpDeniedError(text, reason, id))
      }
    }
  }

  // ---- audit -----------------------------------------------------------------------------------

  async #append(entry: AuditEntryInput): Promise<void> {
    const log = this.#audit ?? (await this.auditLog())
    try {
      await log.append(entry)
    } catch (err) {
      throw auditFailure(err)
    }
  }

  /** Audits a refusal, then throws it (or the audit failure, which wins: nothing happened unrecorded). */
  async #deny(
    base: Base,
    outcome: AuditOutcome,
    error: Error,
    extra: Partial<AuditEntryInput>,
  ): Promise<never> {
    const errorCode = error instanceof TokenVaultGovernanceError ? error.code : null
    try {
      await this.#append({ errorCode, ...base, ...extra, outcome })
    } catch (auditError) {
      throw this.#mark(auditError as Error)
    }
    throw this.#mark(error)
  }

  #mark<E>(error: E): E {
    if (typeof error === 'object' && error !== null) this.#audited.add(error)
    return error
  }
}

function subjectOf(request: TokenVaultRequest): Subject | string {
  const rt = request.refreshToken
  const at = request.accessToken
  const hasRt = rt !== undefined && rt !== null
  const hasAt = at !== undefined && at !== null
  if (hasRt && hasAt) return 'give exactly one of refreshToken and accessToken, not both'
  if (!hasRt && !hasAt) return 'a subject token is required: give refreshToken or accessToken'
  const token = hasRt ? rt : at
  if (typeof token !== 'string' || token.length === 0) return 'the subject token must be a non-empty string'
  return { type: hasRt ? 'refresh_token' : 'access_token', token }
}

function hasReason(reasons: readonly DecisionReason[], code: ReasonCode): boolean {
  for (const r of reasons) if (r.code === code) return true
  return false
}

function auditFailure(err: unknown): Error {
  return err instanceof AuditWriteError || err instanceof AuditIntegrityError
    ? err
    : new AuditWriteError('the audit entry could not be written; nothing was released', { cause: err })
}

function redactSubject(text: string, request: TokenVaultRequest): string {
  return redact(text, [
    typeof request.refreshToken === 'string' ? request.refreshToken : undefined,
    typeof request.accessToken === 'string' ? request.accessToken : undefined,
  ])
}

function approverEntry(decision: StepUpDecision): { id: string; role: string | null } | null {
  if (typeof decision?.approver?.id !== 'string') return null
  return {
    id: decision.approver.id,
    role: typeof decision.approver.role === 'string' ? decision.approver.role : null,
  }
}

function upstreamError(err: unknown): TokenVaultGovernanceError {
  if (err instanceof TokenVaultGovernanceError) return err
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) {
    return new TokenVaultExchangeError(
      'the exchange was abandoned before Auth0 answered',
      { status: 0, error: err.name === 'TimeoutError' ? 'timeout' : 'aborted', retryable: true },
      { cause: err },
    )
  }
  return new TokenVaultExchangeError(
    'the Auth0 Token Vault exchange failed',
    { status: 0, error: 'internal_error', retryable: false },
    { cause: err },
  )
}

const NONE: string[] = []

/** The scopes without repeats, first occurrence first; the array itself when it has none (the usual case). */
function dedupe(scopes: readonly string[]): readonly string[] {
  if (scopes.length > 16) return [...new Set(scopes)]
  for (let i = 1; i < scopes.length; i++) {
    if (scopes.indexOf(scopes[i] as string) < i) return [...new Set(scopes)]
  }
  return scopes
}

const RULE_SETS = new WeakMap<ScopeRule, { permitted: ReadonlySet<string>; highRisk: ReadonlySet<string> }>()
const NO_RULE = { permitted: new Set<string>(), highRisk: new Set<string>() }

/** The rule's scopes as sets, computed once per rule object. */
function ruleSets(rule: ScopeRule | undefined): {
  permitted: ReadonlySet<string>
  highRisk: ReadonlySet<string>
} {
  if (!rule) return NO_RULE
  let sets = RULE_SETS.get(rule)
  if (!sets) {
    sets = { permitted: new Set(rule.permittedScopes), highRisk: new Set(rule.highRiskScopes) }
    RULE_SETS.set(rule, sets)
  }
  return sets
}

/**
 * The response of an exchange. The token is a private field behind a prototype getter, so it is
 * readable as `accessToken` but absent from `JSON.stringify`, spreads, `Object.keys` and
 * `util.inspect`.
 */
class VaultTokenResponse implements TokenVaultResponse {
  readonly #token: string
  readonly tokenType: string
  readonly expiresIn: number
  readonly expiresAt: number
  readonly scope: readonly string[]
  readonly issuedTokenType: string
  readonly connection: string
  readonly cached: boolean
  readonly validation: PolicyValidationResult
  readonly excessScopes: readonly string[]
  readonly stepUpId?: string

  constructor(
    r: TokenVaultExchangeResult,
    connection: string,
    cached: boolean,
    now: number,
    validation: PolicyValidationResult,
    excessScopes: readonly string[],
    stepUpId: string | undefined,
  ) {
    this.#token = r.accessToken
    this.tokenType = r.tokenType
    this.expiresIn = cached ? Math.max(0, Math.floor((r.expiresAt - now) / 1000)) : r.expiresIn
    this.expiresAt = r.expiresAt
    this.scope = [...r.scope]
    this.issuedTokenType = r.issuedTokenType
    this.connection = connection
    this.cached = cached
    this.validation = validation
    this.excessScopes = excessScopes
    if (stepUpId !== undefined) this.stepUpId = stepUpId
  }

  /** The provider access token (non-enumerable). */
  get accessToken(): string {
    return this.#token
  }
}
