import type { Constitution } from '../constitution/types.js'
import { canonicalJson, sha256Hex } from '../lib/canonical.js'

/** De-duplicated and sorted; the lists of a loaded constitution already are, so usually no copy. */
function sorted(values: readonly string[]): readonly string[] {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) return [...new Set(values)].sort()
  }
  return values
}

/**
 * The normalized policy that the digest covers: every field that changes a decision, with
 * defaults filled in and every list de-duplicated and sorted. Key order does not matter (JCS
 * sorts keys).
 */
function normalizedPolicy(c: Constitution): Record<string, unknown> {
  const connections: Record<string, Record<string, unknown>> = {}
  for (const [connection, roles] of Object.entries(c.connections)) {
    const out: Record<string, unknown> = {}
    for (const [role, rule] of Object.entries(roles)) {
      out[role] = {
        permitted_scopes: sorted(rule.permittedScopes),
        high_risk_scopes: sorted(rule.highRiskScopes),
        ...(rule.rateLimit
          ? { rate_limit: { max: rule.rateLimit.max, per_seconds: rule.rateLimit.perSeconds } }
          : {}),
      }
    }
    connections[connection] = out
  }
  const policy: Record<string, unknown> = {
    format: 'acgs-auth0/constitution/v1',
    constitutional_hash: c.constitutionalHash,
    mode: c.mode,
    excess_scopes: c.excessScopes,
    connections,
  }
  if (c.agents) {
    policy.agents = Object.fromEntries(Object.entries(c.agents).map(([id, roles]) => [id, sorted(roles)]))
  }
  if (c.stepUp && (c.stepUp.approvers !== undefined || c.stepUp.timeoutSeconds !== undefined)) {
    policy.step_up = {
      ...(c.stepUp.approvers !== undefined ? { approvers: sorted(c.stepUp.approvers) } : {}),
      ...(c.stepUp.timeoutSeconds !== undefined ? { timeout_seconds: c.stepUp.timeoutSeconds } : {}),
    }
  }
  return policy
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
  return `sha256:${sha256Hex(canonicalJson(normalizedPolicy(constitution)))}`
}
