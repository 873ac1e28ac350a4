import { isNormalized } from '../constitution/normalized.js'
import type { Constitution } from '../constitution/types.js'
import { sha256Hex } from '../lib/canonical.js'

/** De-duplicated and sorted; the lists of a loaded constitution already are, so usually no copy. */
function sorted(values: readonly string[]): readonly string[] {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) return [...new Set(values)].sort()
  }
  return values
}

/** Own keys in JCS order (UTF-16 code units); `Object.keys` would put integer-like keys first. */
function sortedKeys(value: object): string[] {
  return Object.keys(value).sort()
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** A string or a number as JCS: `JSON.stringify`, which JCS adopts for both (RFC 8785 §3.2.2). */
function str(value: string | number): string {
  // JCS has no form for these (as the canonicalize package, refuse them)
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new Error(Number.isNaN(value) ? 'NaN is not allowed' : 'Infinity is not allowed')
  }
  if (typeof value === 'string' && LONE_SURROGATE.test(value))
    throw new Error('Lone surrogate is not allowed')
  return JSON.stringify(value)
}

/**
 * A sorted list of strings as JSON. Trusted lists hold only printable ASCII without `"` and `\`
 * (scopes, role names), which JSON writes unescaped, so joining is the same text, only faster.
 */
function list(values: readonly string[], trusted: boolean): string {
  if (trusted) return values.length === 0 ? '[]' : `["${values.join('","')}"]`
  const out = sorted(values)
  for (const value of out) str(value)
  return JSON.stringify(out)
}

/**
 * The RFC 8785 (JCS) canonical JSON of the normalized policy that the digest covers: every field
 * that changes a decision, with defaults filled in and every list de-duplicated and sorted.
 *
 * Written out directly rather than built as an object and canonicalized: the normalized policy
 * holds only objects with string keys, strings, lists of strings and safe integers, and for those
 * JCS is `JSON.stringify` with every object's keys sorted by UTF-16 code units. The tests check
 * it against a general JCS implementation on random policies.
 *
 * Top-level keys in order: agents, connections, constitutional_hash, excess_scopes, format, mode,
 * step_up. A rule: high_risk_scopes, permitted_scopes, rate_limit (max, per_seconds). step_up:
 * approvers, timeout_seconds.
 *
 * @internal
 */
export function canonicalPolicyJson(c: Constitution): string {
  // lists of a constitution from the loader are sorted, de-duplicated and printable ASCII already
  const trusted = isNormalized(c)
  const parts: string[] = ['{']
  if (c.agents) {
    parts.push('"agents":{')
    let first = true
    for (const id of sortedKeys(c.agents)) {
      parts.push(first ? '' : ',', str(id), ':', list(c.agents[id]!, trusted))
      first = false
    }
    parts.push('},')
  }
  parts.push('"connections":{')
  let firstConnection = true
  for (const connection of sortedKeys(c.connections)) {
    const roles = c.connections[connection]!
    parts.push(firstConnection ? '' : ',', str(connection), ':{')
    firstConnection = false
    let firstRole = true
    for (const role of sortedKeys(roles)) {
      const rule = roles[role]!
      parts.push(
        firstRole ? '' : ',',
        str(role),
        ':{"high_risk_scopes":',
        list(rule.highRiskScopes, trusted),
        ',"permitted_scopes":',
        list(rule.permittedScopes, trusted),
      )
      if (rule.rateLimit) {
        parts.push(
          `,"rate_limit":{"max":${str(rule.rateLimit.max)},"per_seconds":${str(rule.rateLimit.perSeconds)}}`,
        )
      }
      parts.push('}')
      firstRole = false
    }
    parts.push('}')
  }
  parts.push(
    '},"constitutional_hash":',
    str(c.constitutionalHash),
    ',"excess_scopes":',
    str(c.excessScopes),
    ',"format":"acgs-auth0/constitution/v1","mode":',
    str(c.mode),
  )
  const stepUp = c.stepUp
  if (stepUp && (stepUp.approvers !== undefined || stepUp.timeoutSeconds !== undefined)) {
    parts.push(',"step_up":{')
    if (stepUp.approvers !== undefined) parts.push('"approvers":', list(stepUp.approvers, trusted))
    if (stepUp.timeoutSeconds !== undefined) {
      parts.push(stepUp.approvers !== undefined ? ',' : '', '"timeout_seconds":', str(stepUp.timeoutSeconds))
    }
    parts.push('}')
  }
  parts.push('}')
  return parts.join('')
}

/**
 * The policy digest (DESIGN §1): `sha256:` + hex SHA-256 of the RFC 8785 (JCS) canonical JSON of
 * the normalized policy. Reformatting, key order, scope order, duplicate scopes, spelled-out
 * defaults and the root form (`token_vault:` or bare) do not change it; any change of meaning
 * (a scope, a role, a connection, `mode`, `excess_scopes`, `agents`, `step_up`, `rate_limit`,
 * the constitutional hash) does.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8785
 */
export function computePolicyDigest(constitution: Constitution): string {
  return `sha256:${sha256Hex(canonicalPolicyJson(constitution))}`
}
