/**
 * What changed between two policies, and whether any change grants more than before. Pure: it
 * reads the two compiled policies and nothing else, so `acgs-auth0 diff` can be a CI gate.
 */
import type { ExcessScopesMode, PolicyMode, ScopeRule, StepUpSettings } from '../policy/types.js'

/** The part of a compiled policy a diff reads (`MACIScopePolicy` has all of it). */
export interface DiffablePolicy {
  readonly policyDigest: string
  readonly constitutionalHash: string
  readonly connections: readonly string[]
  readonly roles: readonly string[]
  readonly mode: PolicyMode
  readonly excessScopes: ExcessScopesMode
  readonly agents: ReadonlyMap<string, readonly string[]> | undefined
  readonly stepUp: StepUpSettings
  getRule(connection: string, role: string): ScopeRule | undefined
}

/** The kinds of change a diff reports. */
export type PolicyChangeKind =
  | 'connection_added'
  | 'connection_removed'
  | 'role_added'
  | 'role_removed'
  | 'scopes_gained'
  | 'scopes_lost'
  | 'high_risk_added'
  | 'high_risk_removed'
  | 'rate_limit_added'
  | 'rate_limit_removed'
  | 'rate_limit_tightened'
  | 'rate_limit_loosened'
  | 'mode_changed'
  | 'excess_scopes_changed'
  | 'agents_section_added'
  | 'agents_section_removed'
  | 'agent_added'
  | 'agent_removed'
  | 'agent_roles_gained'
  | 'agent_roles_lost'
  | 'approvers_restricted'
  | 'approvers_unrestricted'
  | 'approvers_gained'
  | 'approvers_lost'
  | 'step_up_timeout_changed'
  | 'constitutional_hash_changed'

/** One change between the old and the new policy. */
export interface PolicyChange {
  kind: PolicyChangeKind
  /** True when the change grants more than before (a CI gate fails on it). */
  widens: boolean
  connection?: string
  role?: string
  agent?: string
  /** The scopes, roles or approver roles the change is about, sorted. */
  items?: readonly string[]
  /** For setting changes: the value before and after (`null` = absent). */
  before?: unknown
  after?: unknown
  /** One line for humans. */
  message: string
}

/** The result of {@link diffPolicies}. */
export interface PolicyDiff {
  /** True when at least one change widens the policy. */
  widens: boolean
  /** True when the two policies mean the same (equal digests). */
  identical: boolean
  old: { policyDigest: string; constitutionalHash: string }
  new: { policyDigest: string; constitutionalHash: string }
  /** Connection and role changes first (sorted by connection, role), then agents, then settings. */
  changes: PolicyChange[]
}

type RateLimit = NonNullable<ScopeRule['rateLimit']>

function rolesOn(policy: DiffablePolicy, connection: string): Map<string, ScopeRule> {
  const out = new Map<string, ScopeRule>()
  for (const role of policy.roles) {
    const rule = policy.getRule(connection, role)
    if (rule) out.set(role, rule)
  }
  return out
}

function minus(a: Iterable<string>, b: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const x of a) if (!b.has(x)) out.push(x)
  return out.sort()
}

function list(items: readonly string[]): string {
  return items.length > 0 ? items.join(', ') : '(none)'
}

function fmtRate(r: RateLimit | undefined): string {
  return r ? `${r.max} per ${r.perSeconds}s` : 'none'
}

/**
 * A new limit is looser when it lets more through in some window: a higher burst (`max`) or a
 * higher rate. Erring towards "looser" is right for a gate.
 */
function compareRate(before: RateLimit, after: RateLimit): 'same' | 'looser' | 'tighter' {
  if (before.max === after.max && before.perSeconds === after.perSeconds) return 'same'
  const higherRate = after.max * before.perSeconds > before.max * after.perSeconds
  return after.max > before.max || higherRate ? 'looser' : 'tighter'
}

function diffRule(connection: string, role: string, a: ScopeRule, b: ScopeRule, out: PolicyChange[]): void {
  const aPermitted = new Set(a.permittedScopes)
  const bPermitted = new Set(b.permittedScopes)
  const aHigh = new Set(a.highRiskScopes)
  const bHigh = new Set(b.highRiskScopes)
  const where = `${connection} ${role}`

  const gained = minus(bPermitted, aPermitted)
  if (gained.length > 0) {
    const high = gained.filter((s) => bHigh.has(s))
    const note = high.length > 0 ? ` (high-risk: ${list(high)})` : ''
    out.push({
      kind: 'scopes_gained',
      widens: true,
      connection,
      role,
      items: gained,
      message: `${where}: gains ${list(gained)}${note}`,
    })
  }
  const lost = minus(aPermitted, bPermitted)
  if (lost.length > 0) {
    out.push({
      kind: 'scopes_lost',
      widens: false,
      connection,
      role,
      items: lost,
      message: `${where}: loses ${list(lost)}`,
    })
  }
  // Only scopes permitted on both sides: a gained or lost scope is already reported above.
  const kept = [...bPermitted].filter((s) => aPermitted.has(s))
  const nowHigh = kept.filter((s) => bHigh.has(s) && !aHigh.has(s)).sort()
  if (nowHigh.length > 0) {
    out.push({
      kind: 'high_risk_added',
      widens: false,
      connection,
      role,
      items: nowHigh,
      message: `${where}: now needs step-up for ${list(nowHigh)}`,
    })
  }
  const noLongerHigh = kept.filter((s) => aHigh.has(s) && !bHigh.has(s)).sort()
  if (noLongerHigh.length > 0) {
    out.push({
      kind: 'high_risk_removed',
      widens: true,
      connection,
      role,
      items: noLongerHigh,
      message: `${where}: no longer needs step-up for ${list(noLongerHigh)}`,
    })
  }

  const ra = a.rateLimit
  const rb = b.rateLimit
  const rate = { connection, role, before: ra ?? null, after: rb ?? null }
  if (ra && !rb) {
    out.push({
      kind: 'rate_limit_removed',
      widens: true,
      ...rate,
      message: `${where}: rate limit removed (was ${fmtRate(ra)})`,
    })
  } else if (!ra && rb) {
    out.push({
      kind: 'rate_limit_added',
      widens: false,
      ...rate,
      message: `${where}: rate limit added (${fmtRate(rb)})`,
    })
  } else if (ra && rb) {
    const cmp = compareRate(ra, rb)
    if (cmp !== 'same') {
      const looser = cmp === 'looser'
      out.push({
        kind: looser ? 'rate_limit_loosened' : 'rate_limit_tightened',
        widens: looser,
        ...rate,
        message: `${where}: rate limit ${looser ? 'loosened' : 'tightened'} from ${fmtRate(ra)} to ${fmtRate(rb)}`,
      })
    }
  }
}

function ruleSummary(rule: ScopeRule): string {
  const high = rule.highRiskScopes.length > 0 ? `; high-risk: ${list([...rule.highRiskScopes].sort())}` : ''
  return `${list([...rule.permittedScopes].sort())}${high}`
}

function diffConnections(a: DiffablePolicy, b: DiffablePolicy, out: PolicyChange[]): void {
  const aConnections = new Set(a.connections)
  const bConnections = new Set(b.connections)
  const all = [...new Set([...a.connections, ...b.connections])].sort()
  for (const connection of all) {
    const inA = aConnections.has(connection)
    const inB = bConnections.has(connection)
    const aRoles = inA ? rolesOn(a, connection) : new Map<string, ScopeRule>()
    const bRoles = inB ? rolesOn(b, connection) : new Map<string, ScopeRule>()
    if (!inA) {
      const roles = [...bRoles.keys()].sort()
      out.push({
        kind: 'connection_added',
        widens: true,
        connection,
        items: roles,
        message: `${connection}: connection added (roles: ${list(roles)})`,
      })
    } else if (!inB) {
      const roles = [...aRoles.keys()].sort()
      out.push({
        kind: 'connection_removed',
        widens: false,
        connection,
        items: roles,
        message: `${connection}: connection removed (roles: ${list(roles)})`,
      })
    }
    for (const role of [...new Set([...aRoles.keys(), ...bRoles.keys()])].sort()) {
      const ra = aRoles.get(role)
      const rb = bRoles.get(role)
      if (ra && rb) diffRule(connection, role, ra, rb, out)
      else if (rb) {
        out.push({
          kind: 'role_added',
          widens: true,
          connection,
          role,
          items: [...rb.permittedScopes].sort(),
          message: `${connection} ${role}: role added with ${ruleSummary(rb)}`,
        })
      } else if (ra) {
        out.push({
          kind: 'role_removed',
          widens: false,
          connection,
          role,
          items: [...ra.permittedScopes].sort(),
          message: `${connection} ${role}: role removed (had ${ruleSummary(ra)})`,
        })
      }
    }
  }
}

function diffAgents(a: DiffablePolicy, b: DiffablePolicy, out: PolicyChange[]): void {
  const aa = a.agents
  const ba = b.agents
  if (!aa && !ba) return
  if (!aa && ba) {
    // Before, any agent could act in any role; now only the listed assignments hold.
    out.push({
      kind: 'agents_section_added',
      widens: false,
      items: [...ba.keys()].sort(),
      message: `agents: section added, agents are now bound to their roles (${list([...ba.keys()].sort())})`,
    })
    return
  }
  if (aa && !ba) {
    out.push({
      kind: 'agents_section_removed',
      widens: true,
      items: [...aa.keys()].sort(),
      message: 'agents: section removed, any agent may now act in any role',
    })
    return
  }
  if (!aa || !ba) return
  for (const agent of [...new Set([...aa.keys(), ...ba.keys()])].sort()) {
    const before = aa.get(agent)
    const after = ba.get(agent)
    if (!before && after) {
      const roles = [...after].sort()
      out.push({
        kind: 'agent_added',
        widens: true,
        agent,
        items: roles,
        message: `agent ${agent}: added with roles ${list(roles)}`,
      })
    } else if (before && !after) {
      const roles = [...before].sort()
      out.push({
        kind: 'agent_removed',
        widens: false,
        agent,
        items: roles,
        message: `agent ${agent}: removed (had ${list(roles)})`,
      })
    } else if (before && after) {
      const gained = minus(after, new Set(before))
      const lost = minus(before, new Set(after))
      if (gained.length > 0) {
        out.push({
          kind: 'agent_roles_gained',
          widens: true,
          agent,
          items: gained,
          message: `agent ${agent}: gains role ${list(gained)}`,
        })
      }
      if (lost.length > 0) {
        out.push({
          kind: 'agent_roles_lost',
          widens: false,
          agent,
          items: lost,
          message: `agent ${agent}: loses role ${list(lost)}`,
        })
      }
    }
  }
}

function diffSettings(a: DiffablePolicy, b: DiffablePolicy, out: PolicyChange[]): void {
  if (a.mode !== b.mode) {
    out.push({
      kind: 'mode_changed',
      widens: b.mode === 'shadow',
      before: a.mode,
      after: b.mode,
      message: `mode: ${a.mode} -> ${b.mode}${b.mode === 'shadow' ? ' (denials are let through)' : ''}`,
    })
  }
  if (a.excessScopes !== b.excessScopes) {
    out.push({
      kind: 'excess_scopes_changed',
      widens: b.excessScopes === 'audit',
      before: a.excessScopes,
      after: b.excessScopes,
      message: `excess_scopes: ${a.excessScopes} -> ${b.excessScopes}`,
    })
  }
  const ap = a.stepUp.approvers
  const bp = b.stepUp.approvers
  if (ap && !bp) {
    out.push({
      kind: 'approvers_unrestricted',
      widens: true,
      before: [...ap].sort(),
      after: null,
      message: `step_up.approvers: removed (was ${list([...ap].sort())}), anyone but the requester may approve`,
    })
  } else if (!ap && bp) {
    out.push({
      kind: 'approvers_restricted',
      widens: false,
      before: null,
      after: [...bp].sort(),
      message: `step_up.approvers: only ${list([...bp].sort())} may approve now (was anyone)`,
    })
  } else if (ap && bp) {
    const gained = minus(bp, new Set(ap))
    const lost = minus(ap, new Set(bp))
    if (gained.length > 0) {
      out.push({
        kind: 'approvers_gained',
        widens: true,
        items: gained,
        message: `step_up.approvers: gains ${list(gained)}`,
      })
    }
    if (lost.length > 0) {
      out.push({
        kind: 'approvers_lost',
        widens: false,
        items: lost,
        message: `step_up.approvers: loses ${list(lost)}`,
      })
    }
  }
  const at = a.stepUp.timeoutSeconds
  const bt = b.stepUp.timeoutSeconds
  if (at !== bt) {
    out.push({
      kind: 'step_up_timeout_changed',
      widens: false,
      before: at ?? null,
      after: bt ?? null,
      message: `step_up.timeout_seconds: ${at ?? 'default'} -> ${bt ?? 'default'}`,
    })
  }
  if (a.constitutionalHash !== b.constitutionalHash) {
    out.push({
      kind: 'constitutional_hash_changed',
      widens: false,
      before: a.constitutionalHash,
      after: b.constitutionalHash,
      message: `constitutional_hash: ${a.constitutionalHash} -> ${b.constitutionalHash} (deployments pinning the old hash will refuse the new policy)`,
    })
  }
}

/**
 * Compares two policies: per connection and role the scopes gained and lost, scopes that
 * became or stopped being high-risk, roles and connections added or removed, rate limits,
 * agent assignments, step-up approvers, mode and `excess_scopes`. `widens` is true when any
 * change grants more than before.
 *
 * @example
 * ```ts
 * const d = diffPolicies(await MACIScopePolicy.fromYaml('old.yaml'), await MACIScopePolicy.fromYaml('new.yaml'))
 * if (d.widens) process.exitCode = 1
 * ```
 */
export function diffPolicies(before: DiffablePolicy, after: DiffablePolicy): PolicyDiff {
  const changes: PolicyChange[] = []
  diffConnections(before, after, changes)
  diffAgents(before, after, changes)
  diffSettings(before, after, changes)
  return {
    widens: changes.some((c) => c.widens),
    identical: before.policyDigest === after.policyDigest,
    old: { policyDigest: before.policyDigest, constitutionalHash: before.constitutionalHash },
    new: { policyDigest: after.policyDigest, constitutionalHash: after.constitutionalHash },
    changes,
  }
}
