/**
 * Turns an untrusted value (from YAML or from a caller's object) into a normalized, frozen
 * {@link Constitution}, collecting every problem with its position.
 */
import type { z } from 'zod'
import type { ConstitutionIssue } from '../errors.js'
import type { ScopeRule, StepUpSettings } from '../policy/types.js'
import { fastNormalize } from './fast-check.js'
import { isStandardRole, isValidAgentId, isValidConnectionName, isValidRoleName, quote } from './names.js'
import { markNormalized } from './normalized.js'
import {
  BODY_KEYS,
  type ConstitutionBody,
  constitutionBody,
  RATE_LIMIT_KEYS,
  RULE_KEYS,
  STEP_UP_KEYS,
} from './schema.js'
import type { Constitution } from './types.js'

/** A path into the document: mapping keys and sequence indexes. */
export type DocPath = readonly (string | number)[]

/** Finds the line and column (1-based; 0 when unknown) of a key or a value. */
export type Locator = (path: DocPath, part: 'key' | 'value') => { line: number; column: number }

/** The outcome of checking: either a constitution, or errors (never both). */
export interface CheckResult {
  constitution: Constitution | undefined
  errors: ConstitutionIssue[]
  warnings: ConstitutionIssue[]
}

/** The key under which the wrapped form keeps the constitution. */
export const WRAPPER_KEY = 'token_vault'

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function get(value: unknown, key: string | number): unknown {
  if (typeof key === 'number') return Array.isArray(value) ? value[key] : undefined
  return isPlainObject(value) && Object.hasOwn(value, key) ? value[key] : undefined
}

function has(value: unknown, key: string | number): boolean {
  if (typeof key === 'number') return Array.isArray(value) && key < value.length
  return isPlainObject(value) && Object.hasOwn(value, key)
}

/** `token_vault.connections.github.EXECUTIVE.permitted_scopes[0]` */
export function formatPath(path: DocPath): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else {
      const name = /^[A-Za-z0-9_:-]+$/.test(seg) ? seg : quote(seg)
      out += out === '' ? name : `.${name}`
    }
  }
  return out === '' ? '(root)' : out
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'string') return `the string ${quote(value, 40)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  if (isPlainObject(value)) return 'a mapping'
  return `a ${typeof value} value`
}

function describeExpected(expected: string | undefined, path: DocPath): string {
  const last = path[path.length - 1]
  switch (expected) {
    case 'string':
      if (last === 'constitutional_hash') return 'a quoted string of 16 lowercase hex digits'
      if (typeof last === 'number') {
        const parent = path[path.length - 2]
        if (parent === 'permitted_scopes' || parent === 'high_risk_scopes') return 'a scope string'
        return 'a role name string'
      }
      return 'a string'
    case 'array':
      if (last === 'permitted_scopes' || last === 'high_risk_scopes') return 'a list of scopes'
      return 'a list of role names'
    case 'object':
    case 'record':
      return 'a mapping'
    case 'int':
    case 'number':
      return 'a positive whole number'
    default:
      return expected ?? 'another value'
  }
}

function allowedKeys(rel: DocPath): readonly string[] {
  if (rel.length === 0) return BODY_KEYS
  if (rel.length === 1 && rel[0] === 'step_up') return STEP_UP_KEYS
  if (rel.length === 3 && rel[0] === 'connections') return RULE_KEYS
  if (rel.length === 4 && rel[0] === 'connections' && rel[3] === 'rate_limit') return RATE_LIMIT_KEYS
  return []
}

class Collector {
  readonly errors: ConstitutionIssue[] = []
  readonly warnings: ConstitutionIssue[] = []

  constructor(
    private readonly source: string,
    private readonly locate: Locator,
  ) {}

  error(code: string, message: string, path: DocPath, part: 'key' | 'value' = 'value'): void {
    this.errors.push(this.issue(code, message, path, part))
  }

  warn(code: string, message: string, path: DocPath, part: 'key' | 'value' = 'value'): void {
    this.warnings.push(this.issue(code, message, path, part))
  }

  private issue(code: string, message: string, path: DocPath, part: 'key' | 'value'): ConstitutionIssue {
    const { line, column } = this.locate(path, part)
    return { code, message, source: this.source, line, column }
  }
}

/**
 * Checks an untrusted value and, when it has no error, returns the normalized constitution.
 * The value is the whole document: either `{ token_vault: {...} }` or the bare mapping.
 * `owned`: the value was just parsed from text and nothing else refers to it, so its lists may be
 * frozen and reused in the result.
 */
export function checkConstitution(
  root: unknown,
  source: string,
  locate: Locator,
  owned = false,
): CheckResult {
  const fast = fastNormalizeOrUndefined(root, owned)
  if (fast !== undefined) return { constitution: fast, errors: [], warnings: [] }
  return checkConstitutionFully(root, source, locate)
}

/**
 * The definition of every issue: the zod schema, then names and cross-references, then
 * normalization. {@link checkConstitution} only skips it for a value without any issue.
 *
 * @internal
 */
export function checkConstitutionFully(root: unknown, source: string, locate: Locator): CheckResult {
  const out = new Collector(source, locate)
  if (!isPlainObject(root)) {
    out.error(
      'not_a_mapping',
      `expected a mapping with "constitutional_hash" and "connections" (optionally under "token_vault:"), got ${describeValue(root)}`,
      [],
    )
    return { constitution: undefined, ...out }
  }
  let prefix: DocPath = []
  let body: unknown = root
  if (Object.hasOwn(root, WRAPPER_KEY)) {
    prefix = [WRAPPER_KEY]
    body = root[WRAPPER_KEY]
    for (const key of Object.keys(root)) {
      if (key !== WRAPPER_KEY) {
        out.error(
          'unknown_key',
          `unknown key ${quote(key)} next to "token_vault": the wrapped form has "token_vault" as its only top-level key`,
          [key],
          'key',
        )
      }
    }
    if (!isPlainObject(body)) {
      out.error(
        'not_a_mapping',
        `token_vault: expected a mapping with "constitutional_hash" and "connections", got ${describeValue(body)}`,
        prefix,
      )
      return { constitution: undefined, ...out }
    }
  }

  const parsed = constitutionBody.safeParse(body)
  if (!parsed.success) {
    for (const issue of parsed.error.issues) reportZodIssue(out, issue, body, prefix)
  }
  checkNames(out, body as Record<string, unknown>, prefix)

  if (out.errors.length > 0 || !parsed.success) {
    return { constitution: undefined, ...out }
  }
  return { constitution: normalize(parsed.data), ...out }
}

/** A value that throws while being read (a getter, a proxy) gets the full check, which reports it. */
function fastNormalizeOrUndefined(root: unknown, owned: boolean): Constitution | undefined {
  try {
    return fastNormalize(root, owned)
  } catch {
    return undefined
  }
}

function reportZodIssue(out: Collector, issue: z.core.$ZodIssue, body: unknown, prefix: DocPath): void {
  const rel = issue.path.filter((seg): seg is string | number => typeof seg !== 'symbol')
  const path = [...prefix, ...rel]
  const where = formatPath(path)
  const parentRel = rel.slice(0, -1)
  const last = rel[rel.length - 1]
  let parent: unknown = body
  for (const seg of parentRel) parent = get(parent, seg)
  switch (issue.code) {
    case 'invalid_type': {
      if (last !== undefined && !has(parent, last)) {
        out.error(
          'missing_key',
          `missing required key ${quote(String(last))} in ${formatPath([...prefix, ...parentRel])}: expected ${describeExpected(issue.expected, path)}`,
          [...prefix, ...parentRel],
        )
        return
      }
      const actual = last === undefined ? body : get(parent, last)
      out.error(
        'wrong_type',
        `${where}: expected ${describeExpected(issue.expected, path)}, got ${describeValue(actual)}`,
        path,
      )
      return
    }
    case 'unrecognized_keys': {
      const allowed = allowedKeys(rel)
      for (const key of issue.keys) {
        out.error(
          'unknown_key',
          `unknown key ${quote(key)} in ${where}: expected one of ${allowed.join(', ')}`,
          [...path, key],
          'key',
        )
      }
      return
    }
    case 'invalid_value': {
      const code =
        last === 'mode'
          ? 'invalid_mode'
          : last === 'excess_scopes'
            ? 'invalid_excess_scopes'
            : 'invalid_value'
      const options = issue.values.map((v) => JSON.stringify(v)).join(' or ')
      out.error(code, `${where}: expected ${options}, got ${describeValue(get(parent, last ?? ''))}`, path)
      return
    }
    case 'too_small':
    case 'too_big':
      out.error(
        'out_of_range',
        `${where}: expected a positive whole number (at most 2^53 - 1), got ${describeValue(get(parent, last ?? ''))}`,
        path,
      )
      return
    case 'custom': {
      const code = typeof issue.params?.code === 'string' ? issue.params.code : 'invalid_value'
      out.error(code, `${where}: ${issue.message}`, path)
      return
    }
    default:
      out.error('wrong_type', `${where}: ${issue.message}`, path)
  }
}

/** Names and cross-references, checked on whatever part of the structure is usable. */
function checkNames(out: Collector, body: Record<string, unknown>, prefix: DocPath): void {
  const definedRoles = new Set<string>()
  const warnedRoles = new Set<string>()
  const roleName = (role: string, path: DocPath, part: 'key' | 'value'): boolean => {
    if (!isValidRoleName(role)) {
      out.error(
        'invalid_role_name',
        `${formatPath(path)}: invalid role name ${quote(role)}: expected an upper-case identifier (A-Z, then A-Z, 0-9, _; at most 64 characters)`,
        path,
        part,
      )
      return false
    }
    if (!isStandardRole(role) && !warnedRoles.has(role)) {
      warnedRoles.add(role)
      out.warn(
        'custom_role',
        `${quote(role)} is not one of the standard MACI roles (EXECUTIVE, LEGISLATIVE, JUDICIAL, MONITOR, AUDITOR, CONTROLLER, IMPLEMENTER)`,
        path,
        part,
      )
    }
    return true
  }

  const connections = body.connections
  if (isPlainObject(connections)) {
    for (const [connection, roles] of Object.entries(connections)) {
      const cPath = [...prefix, 'connections', connection]
      if (!isValidConnectionName(connection)) {
        out.error(
          'invalid_connection_name',
          `invalid connection name ${quote(connection)}: expected an Auth0 connection name (letters, digits and '-', starting and ending with a letter or digit, at most 128 characters)`,
          cPath,
          'key',
        )
      }
      if (!isPlainObject(roles)) continue
      for (const [role, rule] of Object.entries(roles)) {
        const rPath = [...cPath, role]
        if (roleName(role, rPath, 'key')) definedRoles.add(role)
        if (isPlainObject(rule)) checkRule(out, rule, rPath)
      }
    }
  }

  const stepUp = body.step_up
  if (isPlainObject(stepUp) && Array.isArray(stepUp.approvers)) {
    stepUp.approvers.forEach((role: unknown, index) => {
      if (typeof role === 'string' && roleName(role, [...prefix, 'step_up', 'approvers', index], 'value')) {
        definedRoles.add(role)
      }
    })
  }

  const agents = body.agents
  if (isPlainObject(agents)) {
    for (const [agentId, roles] of Object.entries(agents)) {
      const aPath = [...prefix, 'agents', agentId]
      if (!isValidAgentId(agentId)) {
        out.error(
          'invalid_agent_id',
          `invalid agent id ${quote(agentId)}: expected 1 to 256 printable ASCII characters without spaces (and not __proto__)`,
          aPath,
          'key',
        )
      }
      if (!Array.isArray(roles)) continue
      roles.forEach((role: unknown, index) => {
        if (typeof role !== 'string') return
        const path = [...aPath, index]
        if (!roleName(role, path, 'value')) return
        if (!definedRoles.has(role)) {
          out.error(
            'agent_role_undefined',
            `agent ${quote(agentId)} is bound to role ${quote(role)}, which no connection rule and no step_up.approvers entry defines`,
            path,
          )
        }
      })
    }
  }
}

function checkRule(out: Collector, rule: Record<string, unknown>, rPath: DocPath): void {
  const permittedList = rule.permitted_scopes
  const permitted = new Set<string>()
  if (Array.isArray(permittedList)) {
    for (let index = 0; index < permittedList.length; index++) {
      const scope: unknown = permittedList[index]
      if (typeof scope !== 'string') continue
      if (permitted.has(scope)) {
        const path = [...rPath, 'permitted_scopes', index]
        out.warn(
          'duplicate_scope',
          `${formatPath(path)}: scope ${quote(scope)} is listed more than once`,
          path,
        )
      }
      permitted.add(scope)
    }
    if (permittedList.length === 0) {
      out.warn(
        'no_permitted_scopes',
        `${formatPath(rPath)}: the role has no permitted scopes, so every request is denied`,
        [...rPath, 'permitted_scopes'],
        'key',
      )
    }
  }
  const highRiskList = rule.high_risk_scopes
  if (!Array.isArray(highRiskList)) return
  const seen = new Set<string>()
  for (let index = 0; index < highRiskList.length; index++) {
    const scope: unknown = highRiskList[index]
    if (typeof scope !== 'string') continue
    if (seen.has(scope)) {
      const path = [...rPath, 'high_risk_scopes', index]
      out.warn('duplicate_scope', `${formatPath(path)}: scope ${quote(scope)} is listed more than once`, path)
    }
    seen.add(scope)
    if (Array.isArray(permittedList) && !permitted.has(scope)) {
      const path = [...rPath, 'high_risk_scopes', index]
      out.error(
        'high_risk_not_permitted',
        `${formatPath(path)}: high-risk scope ${quote(scope)} is not in permitted_scopes, so it could never be granted; add it to permitted_scopes or remove it`,
        path,
      )
    }
  }
}

function sortedUnique(values: readonly string[]): readonly string[] {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) return Object.freeze([...new Set(values)].sort())
  }
  return Object.freeze([...values])
}

function normalize(body: ConstitutionBody): Constitution {
  const connections: Record<string, Readonly<Record<string, ScopeRule>>> = {}
  for (const connection of Object.keys(body.connections).sort()) {
    const roles = body.connections[connection]!
    const compiled: [string, ScopeRule][] = []
    for (const role of Object.keys(roles).sort()) {
      const rule = roles[role]!
      const scopeRule: ScopeRule = {
        permittedScopes: sortedUnique(rule.permitted_scopes),
        highRiskScopes: sortedUnique(rule.high_risk_scopes ?? []),
        ...(rule.rate_limit
          ? {
              rateLimit: Object.freeze({ max: rule.rate_limit.max, perSeconds: rule.rate_limit.per_seconds }),
            }
          : {}),
      }
      compiled.push([role, Object.freeze(scopeRule)])
    }
    Object.defineProperty(connections, connection, {
      value: Object.freeze(Object.fromEntries(compiled)),
      enumerable: true,
    })
  }
  let agents: Record<string, readonly string[]> | undefined
  if (body.agents) {
    agents = Object.fromEntries(
      Object.keys(body.agents)
        .sort()
        .map((id) => [id, sortedUnique(body.agents![id]!)]),
    )
  }
  let stepUp: StepUpSettings | undefined
  if (body.step_up && (body.step_up.approvers !== undefined || body.step_up.timeout_seconds !== undefined)) {
    stepUp = Object.freeze({
      ...(body.step_up.approvers !== undefined ? { approvers: sortedUnique(body.step_up.approvers) } : {}),
      ...(body.step_up.timeout_seconds !== undefined ? { timeoutSeconds: body.step_up.timeout_seconds } : {}),
    })
  }
  return markNormalized(
    Object.freeze({
      constitutionalHash: body.constitutional_hash,
      mode: body.mode ?? 'enforce',
      excessScopes: body.excess_scopes ?? 'deny',
      ...(agents ? { agents: Object.freeze(agents) } : {}),
      ...(stepUp ? { stepUp } : {}),
      connections: Object.freeze(connections),
    }),
  )
}
