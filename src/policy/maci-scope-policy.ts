import { constitutionFromObject } from '../constitution/from-object.js'
import { isValidScope, quote } from '../constitution/names.js'
import { parseConstitution } from '../constitution/parse.js'
import { readConstitution } from '../constitution/read.js'
import type { Constitution, ParsedConstitution, ParseOptions } from '../constitution/types.js'
import type { ConstitutionIssue } from '../errors.js'
import { computePolicyDigest } from './digest.js'
import { type ErrorRecipe, NONE, ValidationResult } from './result.js'
import type {
  DecisionReason,
  ExcessScopesMode,
  PolicyMode,
  PolicyValidationResult,
  ScopeRule,
  StepUpSettings,
  TokenScopeRequest,
} from './types.js'

interface CompiledRule {
  readonly rule: ScopeRule
  readonly permitted: ReadonlySet<string>
  readonly highRisk: ReadonlySet<string>
}

const PERMITTED: readonly DecisionReason[] = Object.freeze([
  Object.freeze({
    code: 'permitted',
    message: 'every requested scope is permitted for this role on this connection',
  }),
]) as readonly DecisionReason[]

const EMPTY_STEP_UP: StepUpSettings = Object.freeze({})

/** A scope that passed the RFC 6749 check has no `"` or `\\`, so quoting needs no escaping. */
function quoteScope(scope: string): string {
  return scope.length <= 64 ? `"${scope}"` : quote(scope)
}

/** Folds duplicate scopes, keeping the first occurrence; small lists without allocating a Set. */
function fold(scopes: readonly string[]): string[] {
  const n = scopes.length
  const out: string[] = []
  if (n <= 16) {
    outer: for (let i = 0; i < n; i++) {
      const s = scopes[i]!
      for (let j = 0; j < out.length; j++) if (out[j] === s) continue outer
      out.push(s)
    }
    return out
  }
  return [...new Set(scopes)]
}

/** Why a request is malformed (step 1), or undefined. */
function malformed(request: TokenScopeRequest): string | undefined {
  if (typeof request !== 'object' || request === null) return 'the request must be an object'
  const { agentId, role, connection, scopes } = request
  if (typeof agentId !== 'string' || agentId.length === 0) return 'the request has no agent id'
  if (typeof role !== 'string' || role.length === 0) return 'the request has no role'
  if (typeof connection !== 'string' || connection.length === 0) return 'the request has no connection'
  if (!Array.isArray(scopes)) return 'scopes must be a list of scope strings'
  if (scopes.length === 0) {
    return 'the request asks for no scope, which would mean every scope the user granted: list the scopes needed'
  }
  for (let i = 0; i < scopes.length; i++) {
    const scope: unknown = scopes[i]
    if (typeof scope !== 'string' || !isValidScope(scope)) {
      return `scope ${typeof scope === 'string' ? quote(scope) : `#${i + 1}`} is not a valid OAuth scope (RFC 6749 §3.3: printable ASCII except space, '"' and '\\')`
    }
  }
  return undefined
}

/**
 * The MACI scope policy: which OAuth scopes each MACI role may obtain on each connection, which
 * of them are high-risk, and which roles each agent may act in. Built once from a constitution
 * (DESIGN §2) and compiled into an index, so that {@link MACIScopePolicy.validate} is a handful
 * of map and set lookups: synchronous, no I/O.
 *
 * @example
 * ```ts
 * const policy = await MACIScopePolicy.fromYaml('constitution.yaml')
 * const result = policy.validate({ agentId: 'planner', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:read'] })
 * if (!result.permitted) throw result.error
 * ```
 */
export class MACIScopePolicy {
  /** `sha256:` + hex SHA-256 of the JCS canonical JSON of the normalized policy. */
  readonly policyDigest: string
  /** The 16-hex-digit hash of the governing ACGS constitution that the policy declares. */
  readonly constitutionalHash: string
  /** Every connection with rules, sorted. */
  readonly connections: readonly string[]
  /** Every role that has a rule on some connection, sorted. */
  readonly roles: readonly string[]
  readonly mode: PolicyMode
  readonly excessScopes: ExcessScopesMode
  /** Agent id → the roles it may act in, when the constitution has an `agents:` section. */
  readonly agents: ReadonlyMap<string, readonly string[]> | undefined
  /** The `step_up:` section; `{}` when absent. */
  readonly stepUp: StepUpSettings
  /** Warnings found when loading (custom roles, duplicate scopes, roles without scopes, ...). */
  readonly warnings: readonly ConstitutionIssue[]
  /** The file name or label the constitution came from. */
  readonly source: string
  /** The normalized constitution. */
  readonly constitution: Constitution

  readonly #index: Map<string, Map<string, CompiledRule>>
  readonly #agentRoles: Map<string, ReadonlySet<string>> | undefined
  readonly #approvers: ReadonlySet<string> | undefined
  readonly #shadow: boolean

  private constructor(parsed: ParsedConstitution) {
    const c = parsed.constitution
    this.constitution = c
    this.source = parsed.source
    this.warnings = parsed.warnings
    this.policyDigest = computePolicyDigest(c)
    this.constitutionalHash = c.constitutionalHash
    this.mode = c.mode
    this.excessScopes = c.excessScopes
    this.stepUp = c.stepUp ?? EMPTY_STEP_UP
    this.#shadow = c.mode === 'shadow'
    this.#approvers = c.stepUp?.approvers ? new Set(c.stepUp.approvers) : undefined

    this.#index = new Map()
    const roles = new Set<string>()
    for (const [connection, byRole] of Object.entries(c.connections)) {
      const compiled = new Map<string, CompiledRule>()
      for (const [role, rule] of Object.entries(byRole)) {
        roles.add(role)
        compiled.set(role, {
          rule,
          permitted: new Set(rule.permittedScopes),
          highRisk: new Set(rule.highRiskScopes),
        })
      }
      this.#index.set(connection, compiled)
    }
    this.connections = Object.freeze([...this.#index.keys()].sort())
    this.roles = Object.freeze([...roles].sort())

    if (c.agents) {
      const agents = new Map<string, readonly string[]>()
      this.#agentRoles = new Map()
      for (const [agentId, agentRoles] of Object.entries(c.agents)) {
        agents.set(agentId, agentRoles)
        this.#agentRoles.set(agentId, new Set(agentRoles))
      }
      this.agents = agents
    } else {
      this.agents = undefined
      this.#agentRoles = undefined
    }
    Object.freeze(this)
  }

  /**
   * Reads and compiles a constitution file.
   *
   * @throws {@link ConstitutionError} (code `file_unreadable` when the file cannot be read)
   */
  static async fromYaml(path: string, options?: ParseOptions): Promise<MACIScopePolicy> {
    return new MACIScopePolicy(await readConstitution(path, options))
  }

  /**
   * Parses and compiles a constitution from YAML text.
   *
   * @param source - a file name or label used in error messages
   * @throws {@link ConstitutionError}
   */
  static fromYamlString(text: string, source?: string, options?: ParseOptions): MACIScopePolicy {
    return new MACIScopePolicy(parseConstitution(text, source, options))
  }

  /**
   * Compiles a constitution given as an object with the same shape as the YAML (snake_case
   * keys, `token_vault:` wrapper or bare). Same checks, no size limit.
   *
   * @throws {@link ConstitutionError}
   */
  static fromObject(value: unknown): MACIScopePolicy {
    return new MACIScopePolicy(constitutionFromObject(value))
  }

  /** The rule for `role` on `connection`, or undefined. Role names match exactly (case-sensitive). */
  getRule(connection: string, role: string): ScopeRule | undefined {
    return this.#index.get(connection)?.get(role)?.rule
  }

  /** Whether a member of `role` may approve step-ups: true when `step_up.approvers` is absent or lists it. */
  isApproverRole(role: string | undefined): boolean {
    if (!this.#approvers) return true
    return role !== undefined && this.#approvers.has(role)
  }

  /**
   * Decides a request offline (DESIGN §3), stopping at the first denial:
   *
   * 1. malformed request (no agent id, role or connection; no scope; a scope outside RFC 6749
   *    §3.3) → `invalid_request`, refused in every mode;
   * 2. `agents:` present and the role not assigned to the agent → `agent_role_not_assigned`;
   * 3. no rule for (connection, role) → `role_not_permitted`;
   * 4. requested scopes outside `permitted_scopes` → `scope_violation`, all of them listed;
   * 5. otherwise permitted; requested high-risk scopes need step-up (`decision: 'step_up'`).
   *
   * Duplicate scopes are folded. In shadow mode a denial from steps 2–4 is reported
   * (`decision: 'deny'`, `reasons`, `deniedScopes`) but let through: `permitted: true`,
   * `shadow: true`, `error: null`; high-risk scopes of the role's rule still need step-up.
   *
   * `error` is the typed error a denial would throw ({@link InvalidTokenRequestError},
   * {@link MACIRoleAssignmentError}, {@link MACIRoleNotPermittedError},
   * {@link ConstitutionalScopeViolation}), or null. It is a getter that builds the error on first
   * read; `JSON.stringify(result)` includes it, a spread copy does not (read it from the result).
   */
  validate(request: TokenScopeRequest): PolicyValidationResult {
    const problem = malformed(request)
    if (problem !== undefined) {
      const message = `invalid token request: ${problem}`
      return new ValidationResult(
        false,
        'deny',
        NONE,
        NONE,
        NONE,
        [{ code: 'invalid_request', message }],
        false,
        this.policyDigest,
        this.constitutionalHash,
        { kind: 'invalid_request', message },
      )
    }
    const { agentId, role, connection } = request
    const scopes = fold(request.scopes)

    let recipe: ErrorRecipe | undefined
    let reasons: DecisionReason[] | undefined
    let denied: readonly string[] = NONE
    const compiled = this.#index.get(connection)?.get(role)

    const assigned = this.#agentRoles === undefined || this.#agentRoles.get(agentId)?.has(role) === true
    if (!assigned) {
      const message = `agent ${quote(agentId)} may not act in role ${quote(role)}: the constitution's agents section does not assign it`
      recipe = { kind: 'agent_role_not_assigned', message, agentId, role }
      reasons = [{ code: 'agent_role_not_assigned', message }]
    } else if (compiled === undefined) {
      const message = `role ${quote(role)} has no rule on connection ${quote(connection)}`
      recipe = { kind: 'role_not_permitted', message, role, connection }
      reasons = [{ code: 'role_not_permitted', message }]
    } else {
      const permitted = compiled.permitted
      let outside: string[] | undefined
      for (let i = 0; i < scopes.length; i++) {
        const scope = scopes[i]!
        if (permitted.has(scope)) continue
        if (outside === undefined) outside = [scope]
        else outside.push(scope)
      }
      if (outside !== undefined) {
        denied = outside
        const where = `role ${quote(role)} on connection ${quote(connection)}`
        const names = outside.map(quoteScope).join(', ')
        const message = `${where} may not obtain ${outside.length === 1 ? 'scope' : 'scopes'} ${names}`
        recipe = { kind: 'scope_violation', message, deniedScopes: outside }
        reasons = outside.map((scope) => ({
          code: 'scope_violation',
          message: `scope ${quoteScope(scope)} is not permitted for ${where}`,
          scope,
        }))
      }
    }

    if (recipe !== undefined && !this.#shadow) {
      return new ValidationResult(
        false,
        'deny',
        NONE,
        NONE,
        denied,
        reasons!,
        false,
        this.policyDigest,
        this.constitutionalHash,
        recipe,
      )
    }

    let stepUp: string[] | undefined
    if (compiled !== undefined && compiled.highRisk.size > 0) {
      const highRisk = compiled.highRisk
      for (let i = 0; i < scopes.length; i++) {
        const scope = scopes[i]!
        if (!highRisk.has(scope)) continue
        if (stepUp === undefined) stepUp = [scope]
        else stepUp.push(scope)
      }
    }
    if (recipe !== undefined) {
      // shadow mode: report the denial, let the request through
      if (stepUp !== undefined) {
        for (const scope of stepUp) {
          reasons!.push({
            code: 'step_up_required',
            message: `scope ${quoteScope(scope)} is high-risk and needs step-up approval`,
            scope,
          })
        }
      }
      return new ValidationResult(
        true,
        'deny',
        scopes,
        stepUp ?? NONE,
        denied,
        reasons!,
        true,
        this.policyDigest,
        this.constitutionalHash,
        undefined,
      )
    }
    if (stepUp !== undefined) {
      const stepUpReasons: DecisionReason[] = stepUp.map((scope) => ({
        code: 'step_up_required',
        message: `scope ${quoteScope(scope)} is high-risk and needs step-up approval`,
        scope,
      }))
      return new ValidationResult(
        true,
        'step_up',
        scopes,
        stepUp,
        NONE,
        stepUpReasons,
        false,
        this.policyDigest,
        this.constitutionalHash,
        undefined,
      )
    }
    return new ValidationResult(
      true,
      'allow',
      scopes,
      NONE,
      NONE,
      PERMITTED,
      false,
      this.policyDigest,
      this.constitutionalHash,
      undefined,
    )
  }
}
