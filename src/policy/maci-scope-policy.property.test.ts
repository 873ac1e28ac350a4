import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import {
  ConstitutionalScopeViolation,
  MACIRoleAssignmentError,
  MACIRoleNotPermittedError,
} from '../errors.js'
import { MACIScopePolicy } from './index.js'

interface RawRule {
  permitted_scopes: string[]
  high_risk_scopes: string[]
  rate_limit?: { max: number; per_seconds: number }
}
interface RawPolicy {
  constitutional_hash: string
  mode?: 'enforce' | 'shadow'
  excess_scopes?: 'deny' | 'audit'
  agents?: Record<string, string[]>
  step_up?: { approvers?: string[]; timeout_seconds?: number }
  connections: Record<string, Record<string, RawRule>>
}

const SCOPES = [
  'read:user',
  'repo:read',
  'repo:write',
  'delete_repo',
  'admin:org',
  'chat:write',
  'files:write',
  'openid',
]
const CONNECTIONS = ['github', 'slack', 'google-oauth2', 'jira']
const ROLES = ['EXECUTIVE', 'LEGISLATIVE', 'JUDICIAL', 'MONITOR', 'AUDITOR', 'CONTROLLER', 'IMPLEMENTER']
const AGENTS = ['planner', 'builder', 'reviewer']

const scopeArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SCOPES) },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]{1,10}$/) },
)

const ruleArb: fc.Arbitrary<RawRule> = fc
  .tuple(
    fc.uniqueArray(scopeArb, { maxLength: 6 }),
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    fc.option(
      fc.record({ max: fc.integer({ min: 1, max: 100 }), per_seconds: fc.integer({ min: 1, max: 3600 }) }),
      { nil: undefined },
    ),
  )
  .map(([permitted, flags, rateLimit]) => ({
    permitted_scopes: permitted,
    high_risk_scopes: permitted.filter((_, i) => flags[i]),
    ...(rateLimit ? { rate_limit: rateLimit } : {}),
  }))

const policyArb: fc.Arbitrary<RawPolicy> = fc
  .record({
    connections: fc.dictionary(
      fc.constantFrom(...CONNECTIONS),
      fc.dictionary(fc.constantFrom(...ROLES), ruleArb, { maxKeys: 4 }),
      { maxKeys: 4 },
    ),
    mode: fc.constantFrom('enforce', 'shadow', undefined),
    excess: fc.constantFrom('deny', 'audit', undefined),
    approvers: fc.option(fc.uniqueArray(fc.constantFrom(...ROLES), { maxLength: 2 }), { nil: undefined }),
    timeout: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
    withAgents: fc.boolean(),
    agentPicks: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: 3, maxLength: 3 }),
  })
  .map(({ connections, mode, excess, approvers, timeout, withAgents, agentPicks }) => {
    const defined = [
      ...new Set([...Object.values(connections).flatMap((r) => Object.keys(r)), ...(approvers ?? [])]),
    ]
    const policy: RawPolicy = { constitutional_hash: '608508a9bd224290', connections }
    if (mode) policy.mode = mode
    if (excess) policy.excess_scopes = excess
    if (approvers !== undefined || timeout !== undefined) {
      policy.step_up = {
        ...(approvers ? { approvers } : {}),
        ...(timeout ? { timeout_seconds: timeout } : {}),
      }
    }
    if (withAgents) {
      policy.agents = Object.fromEntries(
        AGENTS.map((id, i) => [
          id,
          defined.length === 0 ? [] : [...new Set(agentPicks[i]!.map((n) => defined[n % defined.length]!))],
        ]),
      )
    }
    return policy
  })

const requestArb = fc.record({
  agentId: fc.constantFrom(...AGENTS, 'stranger'),
  role: fc.constantFrom(...ROLES, 'executive'),
  connection: fc.constantFrom(...CONNECTIONS, 'unknown'),
  scopes: fc.array(scopeArb, { minLength: 1, maxLength: 6 }),
})

const unique = (xs: readonly string[]) => [...new Set(xs)]

describe('MACIScopePolicy.validate (properties)', () => {
  it('agrees with a reference model of DESIGN §3', () => {
    fc.assert(
      fc.property(policyArb, requestArb, (raw, request) => {
        const policy = MACIScopePolicy.fromObject(raw)
        const r = policy.validate(request)
        const requested = unique(request.scopes)
        const rule = raw.connections[request.connection]?.[request.role]
        const assigned =
          raw.agents === undefined || (raw.agents[request.agentId] ?? []).includes(request.role)
        const outside = rule ? requested.filter((s) => !rule.permitted_scopes.includes(s)) : []
        const wouldDeny = !assigned || !rule || outside.length > 0
        const shadow = raw.mode === 'shadow'

        // safety: whatever is granted outside shadow mode is inside the permitted set
        if (r.permitted && !r.shadow) {
          expect(rule).toBeDefined()
          for (const s of r.grantedScopes) expect(rule!.permitted_scopes).toContain(s)
          expect(r.grantedScopes).toEqual(requested)
          expect(r.stepUpScopes).toEqual(requested.filter((s) => rule!.high_risk_scopes.includes(s)))
          expect(r.stepUpRequired).toBe(r.stepUpScopes.length > 0)
          expect(r.decision).toBe(r.stepUpRequired ? 'step_up' : 'allow')
          expect(r.error).toBeNull()
        }
        expect(r.permitted).toBe(!wouldDeny || shadow)
        expect(r.shadow).toBe(wouldDeny && shadow)
        if (!wouldDeny) return
        expect(r.decision).toBe('deny')
        const code = r.reasons[0]?.code
        if (!assigned) {
          expect(code).toBe('agent_role_not_assigned')
          if (!shadow) expect(r.error).toBeInstanceOf(MACIRoleAssignmentError)
        } else if (!rule) {
          expect(code).toBe('role_not_permitted')
          if (!shadow) expect(r.error).toBeInstanceOf(MACIRoleNotPermittedError)
        } else {
          expect(code).toBe('scope_violation')
          // a denial lists exactly the scopes outside the permitted set
          expect(r.deniedScopes).toEqual(outside)
          if (!shadow) {
            expect(r.error).toBeInstanceOf(ConstitutionalScopeViolation)
            expect((r.error as ConstitutionalScopeViolation).deniedScopes).toEqual(outside)
            for (const s of outside) expect(r.error!.message).toContain(s)
          }
        }
        if (shadow) expect(r.error).toBeNull()
        else {
          expect(r.grantedScopes).toEqual([])
          expect(r.stepUpRequired).toBe(false)
        }
      }),
      { numRuns: 400 },
    )
  })

  it('respects the agents section', () => {
    fc.assert(
      fc.property(policyArb, requestArb, (raw, request) => {
        fc.pre(raw.agents !== undefined && raw.mode !== 'shadow')
        const r = MACIScopePolicy.fromObject(raw).validate(request)
        if (!(raw.agents![request.agentId] ?? []).includes(request.role)) {
          expect(r.permitted).toBe(false)
          expect(r.reasons[0]?.code).toBe('agent_role_not_assigned')
        }
      }),
      { numRuns: 200 },
    )
  })
})

/** The same policy, written differently: keys and scopes reordered, scopes duplicated, defaults spelled out, another root form and YAML style. */
function rewrite(
  raw: RawPolicy,
  seed: number[],
  wrap: boolean,
  flow: boolean,
  explicitDefaults: boolean,
): string {
  let i = 0
  const next = () => seed[i++ % Math.max(seed.length, 1)] ?? 0
  const shuffle = <T>(xs: T[]): T[] =>
    xs
      .map((x) => [next(), x] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, x]) => x)
  const obj = (o: Record<string, unknown>) => Object.fromEntries(shuffle(Object.entries(o)))
  const scopes = (xs: string[]) => shuffle(next() % 2 === 0 ? [...xs, ...xs.slice(0, 1)] : [...xs])
  const connections = obj(
    Object.fromEntries(
      Object.entries(raw.connections).map(([c, roles]) => [
        c,
        obj(
          Object.fromEntries(
            Object.entries(roles).map(([role, rule]) => [
              role,
              obj({
                permitted_scopes: scopes(rule.permitted_scopes),
                ...(rule.high_risk_scopes.length > 0 || explicitDefaults
                  ? { high_risk_scopes: scopes(rule.high_risk_scopes) }
                  : {}),
                ...(rule.rate_limit ? { rate_limit: obj(rule.rate_limit) } : {}),
              }),
            ]),
          ),
        ),
      ]),
    ),
  )
  const body = obj({
    ...raw,
    mode: raw.mode ?? (explicitDefaults ? 'enforce' : undefined),
    excess_scopes: raw.excess_scopes ?? (explicitDefaults ? 'deny' : undefined),
    connections,
    ...(raw.agents
      ? { agents: obj(Object.fromEntries(Object.entries(raw.agents).map(([a, r]) => [a, shuffle([...r])]))) }
      : {}),
    ...(raw.step_up
      ? {
          step_up: obj({
            ...raw.step_up,
            ...(raw.step_up.approvers ? { approvers: shuffle([...raw.step_up.approvers]) } : {}),
          }),
        }
      : {}),
  })
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k]
  return stringify(wrap ? { token_vault: body } : body, {
    collectionStyle: flow ? 'flow' : 'block',
    indent: flow ? 2 : 4,
  })
}

type Edit = (p: RawPolicy) => boolean

const EDITS: Record<string, Edit> = {
  addScope: (p) => {
    const rule = Object.values(p.connections).flatMap((r) => Object.values(r))[0]
    if (!rule) return false
    rule.permitted_scopes.push('brand:new')
    return true
  },
  removeScope: (p) => {
    const rule = Object.values(p.connections)
      .flatMap((r) => Object.values(r))
      .find((x) => x.permitted_scopes.length > 0 && x.high_risk_scopes.length === 0)
    if (!rule) return false
    rule.permitted_scopes.pop()
    return true
  },
  markHighRisk: (p) => {
    const rule = Object.values(p.connections)
      .flatMap((r) => Object.values(r))
      .find((x) => x.permitted_scopes.some((s) => !x.high_risk_scopes.includes(s)))
    if (!rule) return false
    rule.high_risk_scopes.push(rule.permitted_scopes.find((s) => !rule.high_risk_scopes.includes(s))!)
    return true
  },
  toggleMode: (p) => {
    p.mode = p.mode === 'shadow' ? 'enforce' : 'shadow'
    return true
  },
  toggleExcess: (p) => {
    p.excess_scopes = p.excess_scopes === 'audit' ? 'deny' : 'audit'
    return true
  },
  changeHash: (p) => {
    p.constitutional_hash = '0123456789abcdef'
    return true
  },
  toggleAgents: (p) => {
    if (p.agents) delete p.agents
    else p.agents = {}
    return true
  },
  changeTimeout: (p) => {
    p.step_up = { ...p.step_up, timeout_seconds: (p.step_up?.timeout_seconds ?? 0) + 7 }
    return true
  },
  changeApprovers: (p) => {
    if (p.step_up?.approvers?.includes('MONITOR')) return false
    p.step_up = { ...p.step_up, approvers: [...(p.step_up?.approvers ?? []), 'MONITOR'] }
    return true
  },
  changeRateLimit: (p) => {
    const rule = Object.values(p.connections).flatMap((r) => Object.values(r))[0]
    if (!rule) return false
    rule.rate_limit = { max: (rule.rate_limit?.max ?? 0) + 1, per_seconds: 60 }
    return true
  },
  addConnection: (p) => {
    if (p.connections.zendesk) return false
    p.connections.zendesk = {}
    return true
  },
  addRole: (p) => {
    const roles = Object.values(p.connections)[0]
    if (!roles || roles.MONITOR) return false
    roles.MONITOR = { permitted_scopes: [], high_risk_scopes: [] }
    return true
  },
}

describe('policy digest (properties)', () => {
  it('is invariant under reordering, reformatting, duplicates, spelled-out defaults and the root form', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        (raw, seed, wrap, flow, defaults) => {
          const reference = MACIScopePolicy.fromObject(raw).policyDigest
          const text = rewrite(raw, seed, wrap, flow, defaults)
          expect(MACIScopePolicy.fromYamlString(text).policyDigest).toBe(reference)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('changes with any meaningful edit', () => {
    fc.assert(
      fc.property(policyArb, fc.constantFrom(...Object.keys(EDITS)), (raw, edit) => {
        const before = MACIScopePolicy.fromObject(raw).policyDigest
        const edited = structuredClone(raw)
        fc.pre(EDITS[edit]!(edited))
        expect(MACIScopePolicy.fromObject(edited).policyDigest).not.toBe(before)
      }),
      { numRuns: 400 },
    )
  })
})
