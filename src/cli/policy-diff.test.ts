import { describe, expect, it } from 'vitest'
import type { ScopeRule, StepUpSettings } from '../policy/types.js'
import { type DiffablePolicy, diffPolicies, type PolicyChangeKind } from './policy-diff.js'

type Rules = Record<string, Record<string, ScopeRule>>

interface Spec {
  connections?: Rules
  mode?: 'enforce' | 'shadow'
  excessScopes?: 'deny' | 'audit'
  agents?: Record<string, string[]>
  stepUp?: StepUpSettings
  hash?: string
}

const base: Rules = {
  github: {
    EXECUTIVE: { permittedScopes: ['read:user', 'repo:read'], highRiskScopes: [] },
    IMPLEMENTER: {
      permittedScopes: ['read:user', 'repo:read', 'repo:write'],
      highRiskScopes: ['repo:write'],
      rateLimit: { max: 60, perSeconds: 60 },
    },
  },
  slack: { EXECUTIVE: { permittedScopes: ['channels:read'], highRiskScopes: [] } },
}

function policy(spec: Spec = {}): DiffablePolicy {
  const connections = spec.connections ?? base
  const roles = [...new Set(Object.values(connections).flatMap((r) => Object.keys(r)))].sort()
  return {
    policyDigest: `sha256:${JSON.stringify(spec).length}`,
    constitutionalHash: spec.hash ?? '608508a9bd224290',
    connections: Object.keys(connections).sort(),
    roles,
    mode: spec.mode ?? 'enforce',
    excessScopes: spec.excessScopes ?? 'deny',
    agents: spec.agents ? new Map(Object.entries(spec.agents)) : undefined,
    stepUp: spec.stepUp ?? {},
    getRule: (c, r) => connections[c]?.[r],
  }
}

function withRule(connection: string, role: string, rule: ScopeRule | undefined): Rules {
  const copy: Rules = structuredClone(base)
  const forConnection = copy[connection] ?? {}
  if (rule) forConnection[role] = rule
  else delete forConnection[role]
  copy[connection] = forConnection
  return copy
}

function kinds(spec: Spec, before: Spec = {}): { kinds: PolicyChangeKind[]; widens: boolean } {
  const d = diffPolicies(policy(before), policy(spec))
  return { kinds: d.changes.map((c) => c.kind), widens: d.widens }
}

describe('diffPolicies', () => {
  it('reports nothing and does not widen for the same policy', () => {
    const d = diffPolicies(policy(), policy())
    expect(d.changes).toEqual([])
    expect(d.widens).toBe(false)
    expect(d.identical).toBe(true)
  })

  it('a scope gained widens and names connection, role and scope', () => {
    const rule = { permittedScopes: ['read:user', 'repo:read', 'repo:write'], highRiskScopes: [] }
    const d = diffPolicies(policy(), policy({ connections: withRule('github', 'EXECUTIVE', rule) }))
    expect(d.widens).toBe(true)
    expect(d.changes).toEqual([
      expect.objectContaining({
        kind: 'scopes_gained',
        widens: true,
        connection: 'github',
        role: 'EXECUTIVE',
        items: ['repo:write'],
      }),
    ])
  })

  it('a gained high-risk scope is flagged as high-risk in the message', () => {
    const rule = {
      permittedScopes: ['read:user', 'repo:read', 'delete_repo'],
      highRiskScopes: ['delete_repo'],
    }
    const d = diffPolicies(policy(), policy({ connections: withRule('github', 'EXECUTIVE', rule) }))
    expect(d.changes[0]?.message).toContain('high-risk: delete_repo')
  })

  it('a scope lost narrows only', () => {
    const rule = { permittedScopes: ['repo:read'], highRiskScopes: [] }
    const d = diffPolicies(policy(), policy({ connections: withRule('github', 'EXECUTIVE', rule) }))
    expect(d.widens).toBe(false)
    expect(d.changes).toEqual([
      expect.objectContaining({ kind: 'scopes_lost', items: ['read:user'], widens: false }),
    ])
  })

  it('gaining one scope while losing another still widens', () => {
    const rule = { permittedScopes: ['read:user', 'repo:admin'], highRiskScopes: [] }
    const r = kinds({ connections: withRule('github', 'EXECUTIVE', rule) })
    expect(r.kinds).toEqual(['scopes_gained', 'scopes_lost'])
    expect(r.widens).toBe(true)
  })

  it('a scope that stops being high-risk widens; one that becomes high-risk narrows', () => {
    const relaxed = { ...base.github!.IMPLEMENTER!, highRiskScopes: [] }
    expect(kinds({ connections: withRule('github', 'IMPLEMENTER', relaxed) })).toEqual({
      kinds: ['high_risk_removed'],
      widens: true,
    })
    const stricter = { ...base.github!.IMPLEMENTER!, highRiskScopes: ['repo:write', 'repo:read'] }
    expect(kinds({ connections: withRule('github', 'IMPLEMENTER', stricter) })).toEqual({
      kinds: ['high_risk_added'],
      widens: false,
    })
  })

  it('roles and connections added widen; removed narrow', () => {
    const monitor = { permittedScopes: ['repo:read'], highRiskScopes: [] }
    expect(kinds({ connections: withRule('github', 'MONITOR', monitor) })).toEqual({
      kinds: ['role_added'],
      widens: true,
    })
    expect(kinds({ connections: withRule('github', 'EXECUTIVE', undefined) })).toEqual({
      kinds: ['role_removed'],
      widens: false,
    })
    const added = {
      ...base,
      jira: { EXECUTIVE: { permittedScopes: ['read:jira-work'], highRiskScopes: [] } },
    }
    expect(kinds({ connections: added })).toEqual({ kinds: ['connection_added', 'role_added'], widens: true })
    const { slack: _, ...removed } = base
    expect(kinds({ connections: removed })).toEqual({
      kinds: ['connection_removed', 'role_removed'],
      widens: false,
    })
  })

  it('rate limits: removed or loosened widens; added or tightened narrows', () => {
    const impl = base.github!.IMPLEMENTER!
    const rate = (rateLimit?: { max: number; perSeconds: number }) => {
      const { rateLimit: _, ...rest } = impl
      return { connections: withRule('github', 'IMPLEMENTER', rateLimit ? { ...rest, rateLimit } : rest) }
    }
    expect(kinds(rate())).toEqual({ kinds: ['rate_limit_removed'], widens: true })
    expect(kinds(rate({ max: 120, perSeconds: 60 }))).toEqual({
      kinds: ['rate_limit_loosened'],
      widens: true,
    })
    // Same burst over a shorter window is a higher rate.
    expect(kinds(rate({ max: 60, perSeconds: 30 }))).toEqual({ kinds: ['rate_limit_loosened'], widens: true })
    // A lower rate with a higher burst still lets more through in a short window.
    expect(kinds(rate({ max: 100, perSeconds: 3600 }))).toEqual({
      kinds: ['rate_limit_loosened'],
      widens: true,
    })
    expect(kinds(rate({ max: 10, perSeconds: 60 }))).toEqual({
      kinds: ['rate_limit_tightened'],
      widens: false,
    })
    expect(kinds(rate({ max: 60, perSeconds: 60 }))).toEqual({ kinds: [], widens: false })
    expect(kinds({}, rate())).toEqual({ kinds: ['rate_limit_added'], widens: false })
  })

  it('mode enforce -> shadow and excess_scopes deny -> audit widen; the reverse narrows', () => {
    expect(kinds({ mode: 'shadow' })).toEqual({ kinds: ['mode_changed'], widens: true })
    expect(kinds({ mode: 'enforce' }, { mode: 'shadow' })).toEqual({ kinds: ['mode_changed'], widens: false })
    expect(kinds({ excessScopes: 'audit' })).toEqual({ kinds: ['excess_scopes_changed'], widens: true })
    expect(kinds({ excessScopes: 'deny' }, { excessScopes: 'audit' })).toEqual({
      kinds: ['excess_scopes_changed'],
      widens: false,
    })
  })

  it('agents: gaining a role or a new agent widens; losing narrows; dropping the section widens', () => {
    const agents = { planner: ['EXECUTIVE'], builder: ['IMPLEMENTER'] }
    expect(kinds({ agents: { ...agents, planner: ['EXECUTIVE', 'IMPLEMENTER'] } }, { agents })).toEqual({
      kinds: ['agent_roles_gained'],
      widens: true,
    })
    expect(kinds({ agents: { ...agents, planner: [] } }, { agents })).toEqual({
      kinds: ['agent_roles_lost'],
      widens: false,
    })
    expect(kinds({ agents: { ...agents, rogue: ['EXECUTIVE'] } }, { agents })).toEqual({
      kinds: ['agent_added'],
      widens: true,
    })
    expect(kinds({ agents: { planner: ['EXECUTIVE'] } }, { agents })).toEqual({
      kinds: ['agent_removed'],
      widens: false,
    })
    expect(kinds({}, { agents })).toEqual({ kinds: ['agents_section_removed'], widens: true })
    expect(kinds({ agents }, {})).toEqual({ kinds: ['agents_section_added'], widens: false })
  })

  it('approvers: removed or widened widens; restricted narrows', () => {
    const judicial = { stepUp: { approvers: ['JUDICIAL'] } }
    expect(kinds({}, judicial)).toEqual({ kinds: ['approvers_unrestricted'], widens: true })
    expect(kinds(judicial, {})).toEqual({ kinds: ['approvers_restricted'], widens: false })
    expect(kinds({ stepUp: { approvers: ['JUDICIAL', 'MONITOR'] } }, judicial)).toEqual({
      kinds: ['approvers_gained'],
      widens: true,
    })
    expect(kinds(judicial, { stepUp: { approvers: ['JUDICIAL', 'MONITOR'] } })).toEqual({
      kinds: ['approvers_lost'],
      widens: false,
    })
  })

  it('timeout and constitutional hash changes are reported but do not widen', () => {
    expect(kinds({ stepUp: { timeoutSeconds: 600 } }, { stepUp: { timeoutSeconds: 300 } })).toEqual({
      kinds: ['step_up_timeout_changed'],
      widens: false,
    })
    const d = diffPolicies(policy(), policy({ hash: 'aaaaaaaaaaaaaaaa' }))
    expect(d.changes).toEqual([
      expect.objectContaining({
        kind: 'constitutional_hash_changed',
        before: '608508a9bd224290',
        after: 'aaaaaaaaaaaaaaaa',
      }),
    ])
    expect(d.widens).toBe(false)
  })

  it('orders connection changes by connection and role, then agents, then settings', () => {
    const monitor = { permittedScopes: ['repo:read'], highRiskScopes: [] }
    const connections = withRule('github', 'MONITOR', monitor)
    connections.slack = {
      EXECUTIVE: { permittedScopes: ['channels:read', 'chat:write'], highRiskScopes: [] },
    }
    const d = diffPolicies(
      policy({ agents: { a: ['X'] } }),
      policy({ connections, mode: 'shadow', agents: { a: ['X', 'Y'] } }),
    )
    expect(d.changes.map((c) => [c.kind, c.connection ?? c.agent ?? ''])).toEqual([
      ['role_added', 'github'],
      ['scopes_gained', 'slack'],
      ['agent_roles_gained', 'a'],
      ['mode_changed', ''],
    ])
  })
})
