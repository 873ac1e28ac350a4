import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import serialize from 'canonicalize'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Constitution } from '../constitution/types.js'
import { parseConstitution } from '../index.js'
import { canonicalPolicyJson, computePolicyDigest } from './digest.js'
import type { ScopeRule } from './types.js'

const dedupeSort = (xs: readonly string[]) => [...new Set(xs)].sort()

/** The normalized policy as a plain object, canonicalized by a general RFC 8785 implementation. */
function reference(c: Constitution): string {
  const connections: Record<string, unknown> = {}
  for (const [connection, roles] of Object.entries(c.connections)) {
    const out: Record<string, unknown> = {}
    for (const [role, rule] of Object.entries(roles)) {
      out[role] = {
        permitted_scopes: dedupeSort(rule.permittedScopes),
        high_risk_scopes: dedupeSort(rule.highRiskScopes),
        ...(rule.rateLimit
          ? { rate_limit: { max: rule.rateLimit.max, per_seconds: rule.rateLimit.perSeconds } }
          : {}),
      }
    }
    Object.defineProperty(connections, connection, { value: out, enumerable: true })
  }
  const policy: Record<string, unknown> = {
    format: 'acgs-auth0/constitution/v1',
    constitutional_hash: c.constitutionalHash,
    mode: c.mode,
    excess_scopes: c.excessScopes,
    connections,
  }
  if (c.agents) {
    const agents: Record<string, unknown> = {}
    for (const [id, roles] of Object.entries(c.agents)) {
      Object.defineProperty(agents, id, { value: dedupeSort(roles), enumerable: true })
    }
    policy.agents = agents
  }
  if (c.stepUp && (c.stepUp.approvers !== undefined || c.stepUp.timeoutSeconds !== undefined)) {
    policy.step_up = {
      ...(c.stepUp.approvers !== undefined ? { approvers: dedupeSort(c.stepUp.approvers) } : {}),
      ...(c.stepUp.timeoutSeconds !== undefined ? { timeout_seconds: c.stepUp.timeoutSeconds } : {}),
    }
  }
  return serialize(policy)!
}

// any UTF-16 text: astral characters, lone surrogates, control characters, quotes, backslashes,
// and keys that look like array indexes (which `Object.keys` lists first)
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\u0000',
      '\u001f',
      '\u2028',
      '\ud800',
      '\udc00',
      '😀',
      'é',
      'a',
      'Z',
      '/',
    ),
    maxLength: 6,
  }),
  fc.nat({ max: 200 }).map(String),
)
const list = fc.array(text, { maxLength: 5 })
const int = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(Number.MAX_SAFE_INTEGER))

const ruleArb: fc.Arbitrary<ScopeRule> = fc.record(
  {
    permittedScopes: list,
    highRiskScopes: list,
    rateLimit: fc.record({ max: int, perSeconds: int }),
  },
  { requiredKeys: ['permittedScopes', 'highRiskScopes'] },
)

const constitutionArb: fc.Arbitrary<Constitution> = fc.record(
  {
    constitutionalHash: text,
    mode: fc.constantFrom('enforce', 'shadow'),
    excessScopes: fc.constantFrom('deny', 'audit'),
    agents: fc.dictionary(text, list, { maxKeys: 4 }),
    stepUp: fc.record({ approvers: list, timeoutSeconds: int }, { requiredKeys: [] }),
    connections: fc.dictionary(text, fc.dictionary(text, ruleArb, { maxKeys: 3 }), { maxKeys: 4 }),
  },
  { requiredKeys: ['constitutionalHash', 'mode', 'excessScopes', 'connections'] },
)

describe('canonicalPolicyJson', () => {
  it('is exactly the RFC 8785 form of the normalized policy (checked against canonicalize)', () => {
    fc.assert(
      fc.property(constitutionArb, (c) => {
        let expected: string | undefined
        try {
          expected = reference(c)
        } catch {
          // JCS has no form for a lone surrogate: both refuse it
          expect(() => canonicalPolicyJson(c)).toThrow(/Lone surrogate/)
          return
        }
        expect(canonicalPolicyJson(c)).toBe(expected)
      }),
      { numRuns: 2000 },
    )
  })

  it('orders integer-like names as JCS does (by code unit, not the Object.keys order)', () => {
    const { constitution } = parseConstitution(
      'constitutional_hash: "608508a9bd224290"\nconnections:\n  "10":\n    EXECUTIVE:\n      permitted_scopes: [b, a, "9"]\n  "9":\n    AUDITOR:\n      permitted_scopes: [x]\n      high_risk_scopes: [x]\n      rate_limit: {max: 3, per_seconds: 60}\n',
    )
    expect(canonicalPolicyJson(constitution)).toBe(reference(constitution))
    expect(computePolicyDigest(constitution)).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it('writes constitutions from the loader (lists trusted as sorted ASCII) in the same form', () => {
    const example = readFileSync(join(import.meta.dirname, '../../examples/constitution.yaml'), 'utf8')
    const { constitution } = parseConstitution(example, 'example')
    expect(canonicalPolicyJson(constitution)).toBe(reference(constitution))
    // the same constitution rebuilt as a plain object is not trusted, and must agree
    const copy = JSON.parse(JSON.stringify(constitution)) as Constitution
    expect(canonicalPolicyJson(copy)).toBe(canonicalPolicyJson(constitution))
  })
})
