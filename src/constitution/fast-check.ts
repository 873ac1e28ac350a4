/**
 * One pass over an untrusted value that builds the normalized constitution when the value has no
 * problem at all (no error and no warning), and gives up (undefined) at the first doubt. The zod
 * schema and the name checks in `check.ts` stay the definition of every issue: they run whenever
 * this pass gives up, so this pass only has to be at least as strict as they are, never more
 * lenient. Its output is the same as `normalize()` in `check.ts` for the same input.
 */
import type { ScopeRule, StepUpSettings } from '../policy/types.js'
import { isStandardRole, isValidAgentId, isValidConnectionName } from './names.js'
import { markNormalized } from './normalized.js'
import type { Constitution } from './types.js'

const HASH = /^[0-9a-f]{16}$/

function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Own enumerable string keys, or undefined when the object has other own keys (symbols, hidden). */
function keysOf(value: Record<string, unknown>): string[] | undefined {
  const keys = Object.keys(value)
  return Reflect.ownKeys(value).length === keys.length ? keys : undefined
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0
}

/** RFC 6749 §3.3 scope token: one or more of %x21 / %x23-5B / %x5D-7E (one regex test is fastest). */
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/

function isScope(value: unknown): value is string {
  return typeof value === 'string' && SCOPE.test(value)
}

/**
 * A frozen sorted list of valid scopes, or undefined when an item is not a valid scope or is
 * listed twice (a `duplicate_scope` warning). An `owned` list (parsed here, referenced nowhere
 * else) that is sorted already is frozen and kept rather than copied.
 */
function scopeList(value: unknown, owned: boolean): readonly string[] | undefined {
  if (!Array.isArray(value)) return undefined
  const n = value.length
  let ordered = true
  for (let i = 0; i < n; i++) {
    const scope: unknown = value[i]
    if (!isScope(scope)) return undefined
    if (ordered && i > 0 && !(value[i - 1] < scope)) ordered = false
  }
  if (ordered) return Object.freeze(owned ? (value as string[]) : (value.slice() as string[]))
  const out = (value.slice() as string[]).sort()
  for (let i = 1; i < n; i++) if (out[i - 1] === out[i]) return undefined
  return Object.freeze(out)
}

/** A frozen sorted, de-duplicated list of standard role names, or undefined. */
function roleList(value: unknown): readonly string[] | undefined {
  if (!Array.isArray(value)) return undefined
  const n = value.length
  const out = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    const role: unknown = value[i]
    if (typeof role !== 'string' || !isStandardRole(role)) return undefined
    out[i] = role
  }
  return Object.freeze([...new Set(out)].sort())
}

/** Whether `sorted` (sorted, no duplicates) contains every item of `sub` (sorted). */
function includesAll(sorted: readonly string[], sub: readonly string[]): boolean {
  let j = 0
  for (let i = 0; i < sub.length; i++) {
    const s = sub[i]!
    while (j < sorted.length && sorted[j]! < s) j++
    if (j === sorted.length || sorted[j] !== s) return false
  }
  return true
}

function rule(value: unknown, owned: boolean): ScopeRule | undefined {
  if (!isPlain(value)) return undefined
  const keys = keysOf(value)
  if (keys === undefined) return undefined
  let permitted: readonly string[] | undefined
  let highRisk: readonly string[] = Object.freeze([])
  let rateLimit: { max: number; perSeconds: number } | undefined
  for (const key of keys) {
    const v = value[key]
    if (key === 'permitted_scopes') {
      permitted = scopeList(v, owned)
      // an empty list is a `no_permitted_scopes` warning
      if (permitted === undefined || permitted.length === 0) return undefined
    } else if (key === 'high_risk_scopes') {
      const list = scopeList(v, owned)
      if (list === undefined) return undefined
      highRisk = list
    } else if (key === 'rate_limit') {
      if (!isPlain(v)) return undefined
      const rk = keysOf(v)
      if (
        rk === undefined ||
        rk.length !== 2 ||
        !Object.hasOwn(v, 'max') ||
        !Object.hasOwn(v, 'per_seconds')
      ) {
        return undefined
      }
      const max = v.max
      const perSeconds = v.per_seconds
      if (!isPositiveInt(max) || !isPositiveInt(perSeconds)) return undefined
      rateLimit = Object.freeze({ max, perSeconds })
    } else {
      return undefined
    }
  }
  if (permitted === undefined || !includesAll(permitted, highRisk)) return undefined
  return Object.freeze(
    rateLimit
      ? { permittedScopes: permitted, highRiskScopes: highRisk, rateLimit }
      : { permittedScopes: permitted, highRiskScopes: highRisk },
  )
}

/**
 * The normalized constitution of `root`, or undefined when `root` has any problem that the full
 * check would report as an error or a warning (or anything this pass does not handle).
 *
 * @param owned - `root` was parsed from text here and nothing else holds it, so its sorted
 * lists may be frozen and kept instead of copied
 */
export function fastNormalize(root: unknown, owned = false): Constitution | undefined {
  if (!isPlain(root)) return undefined
  let body: unknown = root
  if (Object.hasOwn(root, 'token_vault')) {
    const rootKeys = keysOf(root)
    if (rootKeys === undefined || rootKeys.length !== 1) return undefined
    body = root.token_vault
  }
  if (!isPlain(body)) return undefined
  const keys = keysOf(body)
  if (keys === undefined) return undefined

  let hash: string | undefined
  let mode: 'enforce' | 'shadow' = 'enforce'
  let excessScopes: 'deny' | 'audit' = 'deny'
  let agentsValue: Record<string, unknown> | undefined
  let stepUpValue: Record<string, unknown> | undefined
  let connectionsValue: Record<string, unknown> | undefined
  for (const key of keys) {
    const v = body[key]
    switch (key) {
      case 'constitutional_hash':
        if (typeof v !== 'string' || !HASH.test(v)) return undefined
        hash = v
        break
      case 'mode':
        if (v !== 'enforce' && v !== 'shadow') return undefined
        mode = v
        break
      case 'excess_scopes':
        if (v !== 'deny' && v !== 'audit') return undefined
        excessScopes = v
        break
      case 'agents':
        if (!isPlain(v)) return undefined
        agentsValue = v
        break
      case 'step_up':
        if (!isPlain(v)) return undefined
        stepUpValue = v
        break
      case 'connections':
        if (!isPlain(v)) return undefined
        connectionsValue = v
        break
      default:
        return undefined
    }
  }
  if (hash === undefined || connectionsValue === undefined) return undefined

  const definedRoles = new Set<string>()
  const connectionNames = keysOf(connectionsValue)
  if (connectionNames === undefined) return undefined
  connectionNames.sort()
  const connections: Record<string, Readonly<Record<string, ScopeRule>>> = {}
  for (const connection of connectionNames) {
    if (!isValidConnectionName(connection)) return undefined
    const roles = connectionsValue[connection]
    if (!isPlain(roles)) return undefined
    const roleNames = keysOf(roles)
    if (roleNames === undefined) return undefined
    roleNames.sort()
    const compiled: Record<string, ScopeRule> = {}
    for (const role of roleNames) {
      // a custom (non-standard) role is a warning
      if (!isStandardRole(role)) return undefined
      const r = rule(roles[role], owned)
      if (r === undefined) return undefined
      definedRoles.add(role)
      compiled[role] = r
    }
    // connection names are never `__proto__` (no `_` allowed), but stay off the setter anyway
    Object.defineProperty(connections, connection, { value: Object.freeze(compiled), enumerable: true })
  }

  let stepUp: StepUpSettings | undefined
  if (stepUpValue !== undefined) {
    const stepUpKeys = keysOf(stepUpValue)
    if (stepUpKeys === undefined) return undefined
    let approvers: readonly string[] | undefined
    let timeoutSeconds: number | undefined
    for (const key of stepUpKeys) {
      const v = stepUpValue[key]
      if (key === 'approvers') {
        approvers = roleList(v)
        if (approvers === undefined) return undefined
        for (const role of approvers) definedRoles.add(role)
      } else if (key === 'timeout_seconds') {
        if (!isPositiveInt(v)) return undefined
        timeoutSeconds = v
      } else {
        return undefined
      }
    }
    if (approvers !== undefined || timeoutSeconds !== undefined) {
      stepUp = Object.freeze({
        ...(approvers !== undefined ? { approvers } : {}),
        ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
      })
    }
  }

  let agents: Record<string, readonly string[]> | undefined
  if (agentsValue !== undefined) {
    const ids = keysOf(agentsValue)
    if (ids === undefined) return undefined
    ids.sort()
    agents = {}
    for (const id of ids) {
      if (!isValidAgentId(id)) return undefined
      const roles = roleList(agentsValue[id])
      if (roles === undefined) return undefined
      for (const role of roles) if (!definedRoles.has(role)) return undefined
      Object.defineProperty(agents, id, { value: roles, enumerable: true })
    }
  }

  return markNormalized(
    Object.freeze({
      constitutionalHash: hash,
      mode,
      excessScopes,
      ...(agents ? { agents: Object.freeze(agents) } : {}),
      ...(stepUp ? { stepUp } : {}),
      connections: Object.freeze(connections),
    }),
  )
}
