/**
 * The baseline for the policy benchmark: the same constitution expressed as a Cedar policy set,
 * decided by `@cedar-policy/cedar-wasm` (v4) with pre-parsed policies (`preparsePolicySet` +
 * `statefulIsAuthorized`), so no call pays for parsing the policy text.
 *
 * Equivalence (for well-formed requests; `invalid_request` is a check on the request, not a
 * policy, and is left out of the timed requests):
 *
 * - a request is ONE Cedar call: principal `Agent::"<agentId>"`, action `Action::"obtain"`,
 *   context `{ role, scopes: Set<String> }`. The whole scope set is decided at once with
 *   `containsAll` (permitted ⊇ requested) and `containsAny` (requested ∩ high-risk ≠ ∅), which is
 *   cheaper for Cedar than one call per scope.
 * - `agents:` becomes the entity hierarchy: the agent entity's parents are its assigned roles,
 *   and a policy requires `principal in Role::"<role>"`. Without `agents:` any agent may act in
 *   any role, so the agent entity's parent is the requested role.
 * - Cedar answers allow/deny only; allow vs step_up is read from which permit policy determined
 *   the answer: per rule there is an `allow` permit (no high-risk scope requested) and a
 *   `step_up` permit (some high-risk scope requested).
 *
 * Two encodings are measured:
 *
 * - `rules`: the literal translation, one pair of permits per (connection, role), resource
 *   `Connection::"<connection>"`. Cedar evaluates the whole set on every call.
 * - `entities`: two generic permits; each (connection, role) rule is a `Grant` entity carrying
 *   `permitted` and `highRisk` sets, and the caller passes the one grant the request touches
 *   (the way a Cedar deployment passes the entities of a request). This is Cedar's best case.
 */
import * as cedar from '@cedar-policy/cedar-wasm/nodejs'
import type { Decision, ScopeRule, TokenScopeRequest } from '../src/policy/types.js'

/** What the translation reads from a compiled policy (`MACIScopePolicy` has all of it). */
export interface TranslatablePolicy {
  readonly connections: readonly string[]
  readonly roles: readonly string[]
  readonly agents: ReadonlyMap<string, readonly string[]> | undefined
  getRule(connection: string, role: string): ScopeRule | undefined
}

/** A Cedar-backed decider for the same requests as `policy.validate()`. */
export interface CedarDecider {
  readonly name: string
  readonly policyCount: number
  /** Milliseconds `preparsePolicySet` took. */
  readonly preparseMs: number
  decide(request: TokenScopeRequest): Decision
}

type Uid = { type: string; id: string }
type EntityJson = { uid: Uid; attrs: Record<string, cedar.CedarValueJson>; parents: Uid[] }

const ACTION: Uid = { type: 'Action', id: 'obtain' }
let nextSetId = 0

function str(value: string): string {
  return JSON.stringify(value)
}

function set(values: readonly string[]): string {
  return `[${values.map(str).join(', ')}]`
}

function agentEntities(policy: TranslatablePolicy): (agentId: string, role: string) => EntityJson {
  const cache = new Map<string, EntityJson>()
  return (agentId, role) => {
    const key = policy.agents ? agentId : `${agentId}\u0000${role}`
    let e = cache.get(key)
    if (!e) {
      const roles = policy.agents ? (policy.agents.get(agentId) ?? []) : [role]
      e = {
        uid: { type: 'Agent', id: agentId },
        attrs: {},
        parents: roles.map((id) => ({ type: 'Role', id })),
      }
      cache.set(key, e)
    }
    return e
  }
}

function preparse(policies: Record<string, string>): { id: string; ms: number } {
  const id = `acgs-${nextSetId++}`
  const t0 = performance.now()
  const answer = cedar.preparsePolicySet(id, { staticPolicies: policies })
  const ms = performance.now() - t0
  if (answer.type !== 'success') {
    throw new Error(`cedar rejected the policy set: ${answer.errors.map((e) => e.message).join('; ')}`)
  }
  return { id, ms }
}

function decisionOf(answer: cedar.AuthorizationAnswer): Decision {
  if (answer.type !== 'success')
    throw new Error(`cedar failed: ${answer.errors.map((e) => e.message).join('; ')}`)
  const { decision, diagnostics } = answer.response
  if (decision === 'deny') return 'deny'
  return diagnostics.reason.some((id) => id.endsWith('|step_up')) ? 'step_up' : 'allow'
}

/** The literal translation: one pair of permit policies per (connection, role). */
export function cedarRulesDecider(policy: TranslatablePolicy): CedarDecider {
  const policies: Record<string, string> = {}
  for (const connection of policy.connections) {
    for (const role of policy.roles) {
      const rule = policy.getRule(connection, role)
      if (!rule) continue
      const head = `permit(principal in Role::${str(role)}, action == Action::"obtain", resource == Connection::${str(connection)})`
      const base = `context.role == ${str(role)} && ${set(rule.permittedScopes)}.containsAll(context.scopes)`
      if (rule.highRiskScopes.length === 0) {
        policies[`${connection}|${role}|allow`] = `${head} when { ${base} };`
      } else {
        const high = `${set(rule.highRiskScopes)}.containsAny(context.scopes)`
        policies[`${connection}|${role}|allow`] = `${head} when { ${base} && !${high} };`
        policies[`${connection}|${role}|step_up`] = `${head} when { ${base} && ${high} };`
      }
    }
  }
  const { id, ms } = preparse(policies)
  const agent = agentEntities(policy)
  return {
    name: 'cedar-wasm (one policy pair per connection × role)',
    policyCount: Object.keys(policies).length,
    preparseMs: ms,
    decide(request) {
      return decisionOf(
        cedar.statefulIsAuthorized({
          principal: { type: 'Agent', id: request.agentId },
          action: ACTION,
          resource: { type: 'Connection', id: request.connection },
          context: { role: request.role, scopes: [...request.scopes] },
          entities: [agent(request.agentId, request.role)],
          preparsedPolicySetId: id,
        }),
      )
    },
  }
}

/** Cedar's best case: two generic permits; the rule travels as the request's `Grant` entity. */
export function cedarEntitiesDecider(policy: TranslatablePolicy): CedarDecider {
  const cond = 'principal in resource.role && resource.permitted.containsAll(context.scopes)'
  const policies = {
    'grant|allow': `permit(principal, action == Action::"obtain", resource is Grant) when { ${cond} && !resource.highRisk.containsAny(context.scopes) };`,
    'grant|step_up': `permit(principal, action == Action::"obtain", resource is Grant) when { ${cond} && resource.highRisk.containsAny(context.scopes) };`,
  }
  const grants = new Map<string, EntityJson>()
  for (const connection of policy.connections) {
    for (const role of policy.roles) {
      const rule = policy.getRule(connection, role)
      if (!rule) continue
      const key = `${connection}|${role}`
      grants.set(key, {
        uid: { type: 'Grant', id: key },
        attrs: {
          role: { __entity: { type: 'Role', id: role } },
          permitted: [...rule.permittedScopes],
          highRisk: [...rule.highRiskScopes],
        },
        parents: [],
      })
    }
  }
  const { id, ms } = preparse(policies)
  const agent = agentEntities(policy)
  return {
    name: 'cedar-wasm (two permits, rule passed as a Grant entity)',
    policyCount: 2,
    preparseMs: ms,
    decide(request) {
      const key = `${request.connection}|${request.role}`
      const grant = grants.get(key)
      // No rule: the grant is absent, the attribute access errors, and Cedar denies.
      const entities = grant
        ? [agent(request.agentId, request.role), grant]
        : [agent(request.agentId, request.role)]
      return decisionOf(
        cedar.statefulIsAuthorized({
          principal: { type: 'Agent', id: request.agentId },
          action: ACTION,
          resource: { type: 'Grant', id: key },
          context: { scopes: [...request.scopes] },
          entities,
          preparsedPolicySetId: id,
        }),
      )
    },
  }
}
