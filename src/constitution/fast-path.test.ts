import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { ConstitutionError } from '../errors.js'
import { computePolicyDigest } from '../policy/digest.js'
import { checkConstitutionFully } from './check.js'
import { fastNormalize } from './fast-check.js'
import { isPlainYaml, loadPlainYaml } from './fast-yaml.js'
import { loadPlain, parseConstitution, parseWithPositions } from './parse.js'
import type { Constitution } from './types.js'

const NO_POSITION = () => ({ line: 0, column: 0 })

interface RawRule {
  permitted_scopes: string[]
  high_risk_scopes?: string[]
  rate_limit?: { max: number; per_seconds: number }
}
interface RawPolicy {
  constitutional_hash: string
  mode?: string
  excess_scopes?: string
  agents?: Record<string, string[]>
  step_up?: { approvers?: string[]; timeout_seconds?: number }
  connections: Record<string, Record<string, RawRule>>
}

const ROLES = ['EXECUTIVE', 'LEGISLATIVE', 'JUDICIAL', 'MONITOR', 'AUDITOR', 'CONTROLLER', 'IMPLEMENTER']
const scopeArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('repo:read', 'repo:write', 'read:user', 'openid', 'a', '1', 'true'),
  },
  { weight: 2, arbitrary: fc.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]{1,8}$/) },
)
const connectionArb = fc.oneof(
  fc.constantFrom('github', 'slack', 'google-oauth2', '123', '0x1F', 'null', 'true'),
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,6}$/),
)
const agentArb = fc.oneof(
  fc.constantFrom('planner', 'builder', '42'),
  fc.stringMatching(/^[\x21-\x7e]{1,6}$/),
)

const ruleArb: fc.Arbitrary<RawRule> = fc
  .tuple(
    fc.uniqueArray(scopeArb, { minLength: 1, maxLength: 6 }),
    fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    fc.boolean(),
    fc.option(
      fc.record({ max: fc.integer({ min: 1, max: 1000 }), per_seconds: fc.integer({ min: 1, max: 3600 }) }),
      { nil: undefined },
    ),
  )
  .map(([permitted, flags, withHighRisk, rateLimit]) => ({
    permitted_scopes: permitted,
    ...(withHighRisk ? { high_risk_scopes: permitted.filter((_, i) => flags[i]) } : {}),
    ...(rateLimit ? { rate_limit: rateLimit } : {}),
  }))

const policyArb: fc.Arbitrary<RawPolicy> = fc
  .record({
    connections: fc.dictionary(
      connectionArb,
      fc.dictionary(fc.constantFrom(...ROLES), ruleArb, { maxKeys: 3 }),
      {
        maxKeys: 4,
      },
    ),
    mode: fc.constantFrom('enforce', 'shadow', undefined),
    excess: fc.constantFrom('deny', 'audit', undefined),
    approvers: fc.option(fc.uniqueArray(fc.constantFrom(...ROLES), { maxLength: 2 }), { nil: undefined }),
    timeout: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
    agents: fc.option(fc.dictionary(agentArb, fc.array(fc.nat(), { maxLength: 3 }), { maxKeys: 3 }), {
      nil: undefined,
    }),
  })
  .map(({ connections, mode, excess, approvers, timeout, agents }) => {
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
    if (agents && defined.length > 0) {
      policy.agents = Object.fromEntries(
        Object.entries(agents).map(([id, picks]) => [id, picks.map((n) => defined[n % defined.length]!)]),
      )
    }
    return policy
  })

interface Style {
  wrapped: boolean
  indent: number
  flow: boolean
  quote: 'plain' | 'double' | 'single'
  quoteKeys: boolean
  comments: boolean
  crlf: boolean
  header: boolean
}

const styleArb: fc.Arbitrary<Style> = fc.record({
  wrapped: fc.boolean(),
  indent: fc.constantFrom(2, 4),
  flow: fc.boolean(),
  quote: fc.constantFrom('plain', 'double', 'single'),
  quoteKeys: fc.boolean(),
  comments: fc.boolean(),
  crlf: fc.boolean(),
  header: fc.boolean(),
})

const SAFE_PLAIN = /^[A-Za-z0-9_][A-Za-z0-9_.:/+=-]*$/

/** A scalar in the chosen style; plain only where plain means the same string. */
function scalar(value: string | number, style: Style['quote']): string {
  if (typeof value === 'number') return String(value)
  if (style === 'plain' && SAFE_PLAIN.test(value) && stringify(value).trim() === value) return value
  if (style === 'single') return `'${value.replaceAll("'", "''")}'`
  return JSON.stringify(value)
}

/** Renders a raw policy as YAML in one of many equivalent styles. */
function render(raw: RawPolicy, s: Style): string {
  const lines: string[] = []
  if (s.header) lines.push('---')
  if (s.comments) lines.push('# a constitution', '')
  const pad = (level: number) => ' '.repeat(level * s.indent)
  const key = (k: string) => (s.quoteKeys ? JSON.stringify(k) : scalar(k, 'plain'))
  const list = (level: number, k: string, items: readonly string[]) => {
    if (s.flow || items.length === 0) {
      lines.push(`${pad(level)}${key(k)}: [${items.map((i) => scalar(i, s.quote)).join(', ')}]`)
    } else {
      lines.push(`${pad(level)}${key(k)}:`)
      for (const i of items) lines.push(`${pad(level + 1)}- ${scalar(i, s.quote)}`)
    }
  }
  const base = s.wrapped ? 1 : 0
  if (s.wrapped) lines.push('token_vault:')
  lines.push(`${pad(base)}constitutional_hash: "${raw.constitutional_hash}"${s.comments ? ' # pinned' : ''}`)
  if (raw.mode) lines.push(`${pad(base)}mode: ${scalar(raw.mode, s.quote)}`)
  if (raw.excess_scopes) lines.push(`${pad(base)}excess_scopes: ${scalar(raw.excess_scopes, s.quote)}`)
  if (raw.step_up) {
    lines.push(`${pad(base)}step_up:`)
    if (raw.step_up.approvers) list(base + 1, 'approvers', raw.step_up.approvers)
    if (raw.step_up.timeout_seconds)
      lines.push(`${pad(base + 1)}timeout_seconds: ${raw.step_up.timeout_seconds}`)
    if (!raw.step_up.approvers && !raw.step_up.timeout_seconds) lines[lines.length - 1] += ' {}'
  }
  if (raw.agents) {
    lines.push(`${pad(base)}agents:${Object.keys(raw.agents).length === 0 ? ' {}' : ''}`)
    for (const [id, roles] of Object.entries(raw.agents)) list(base + 1, id, roles)
  }
  lines.push(`${pad(base)}connections:${Object.keys(raw.connections).length === 0 ? ' {}' : ''}`)
  for (const [connection, roles] of Object.entries(raw.connections)) {
    lines.push(`${pad(base + 1)}${key(connection)}:${Object.keys(roles).length === 0 ? ' {}' : ''}`)
    if (s.comments) lines.push(`${pad(base + 2)}# rules for ${connection.replaceAll('\n', '')}`)
    for (const [role, rule] of Object.entries(roles)) {
      lines.push(`${pad(base + 2)}${key(role)}:`)
      list(base + 3, 'permitted_scopes', rule.permitted_scopes)
      if (rule.high_risk_scopes) list(base + 3, 'high_risk_scopes', rule.high_risk_scopes)
      if (rule.rate_limit) {
        lines.push(`${pad(base + 3)}rate_limit:`)
        lines.push(`${pad(base + 4)}max: ${rule.rate_limit.max}`)
        lines.push(`${pad(base + 4)}per_seconds: ${rule.rate_limit.per_seconds}`)
      }
    }
  }
  return lines.join(s.crlf ? '\r\n' : '\n') + (s.crlf ? '\r\n' : '\n')
}

type Outcome = { ok: true; constitution: Constitution; digest: string } | { ok: false }

/** The `yaml` path alone: the reference for every text. */
function slow(text: string): Outcome & { warnings?: number } {
  try {
    const parsed = parseWithPositions(text, 'x')
    return {
      ok: true,
      constitution: parsed.constitution,
      digest: computePolicyDigest(parsed.constitution),
      warnings: parsed.warnings.length,
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ConstitutionError)
    return { ok: false }
  }
}

/** The fast path alone: a constitution, or undefined when it declines. */
function fast(text: string): { constitution: Constitution; digest: string } | undefined {
  const parsed = loadPlain(text, 'x')
  return parsed && { constitution: parsed.constitution, digest: computePolicyDigest(parsed.constitution) }
}

/** Whatever the fast path accepts, the `yaml` path accepts too, cleanly and identically. */
function expectAgreement(text: string): boolean {
  const f = fast(text)
  if (f === undefined) return false
  const s = slow(text)
  expect(s.ok, `the fast path accepted a text the yaml path refuses:\n${text}`).toBe(true)
  if (!s.ok) return true
  expect(s.warnings).toBe(0)
  expect(f.constitution).toEqual(s.constitution)
  expect(f.digest).toBe(s.digest)
  return true
}

describe('the js-yaml fast path', () => {
  it('gives the same constitution and digest as the yaml path for valid constitutions in any style', () => {
    let taken = 0
    let runs = 0
    fc.assert(
      fc.property(policyArb, styleArb, (raw, style) => {
        runs++
        const text = render(raw, style)
        const s = slow(text)
        if (expectAgreement(text)) taken++
        // and the public entry point returns the yaml path's result
        if (s.ok && s.warnings === 0) {
          const parsed = parseConstitution(text, 'x')
          expect(parsed.constitution).toEqual(s.constitution)
          expect(parsed.warnings).toEqual([])
        }
      }),
      { numRuns: Number(process.env.FAST_PATH_FUZZ_RUNS ?? 400) },
    )
    // the fast path must actually be exercised, not decline everything
    expect(taken).toBeGreaterThan(runs / 4)
  })

  it('never accepts a text the yaml path refuses or reads differently (random edits of valid texts)', () => {
    const EDIT_CHARS = [
      ' ',
      '  ',
      '\n',
      '\r\n',
      '-',
      ':',
      ': ',
      '[',
      ']',
      '{',
      '}',
      ',',
      '"',
      "'",
      '#',
      ' #',
      'a',
      '1',
      '~',
      '.',
      '0x',
      '\t',
    ]
    // mostly whitespace and line-break edits, which keep many texts valid but move things around
    const editArb = fc.array(
      fc.record({
        at: fc.nat(),
        del: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 3 }) }),
        insert: fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(' ', '  ', '\n', '\r\n', '\n  ', ' #') },
          { weight: 1, arbitrary: fc.constantFrom(...EDIT_CHARS, '') },
        ),
      }),
      { minLength: 1, maxLength: 2 },
    )
    let accepted = 0
    const numRuns = Number(process.env.FAST_PATH_FUZZ_RUNS ?? 1500)
    fc.assert(
      fc.property(policyArb, styleArb, editArb, (raw, style, edits) => {
        let text = render(raw, style)
        for (const e of edits) {
          const at = e.at % (text.length + 1)
          text = text.slice(0, at) + e.insert + text.slice(at + e.del)
        }
        if (expectAgreement(text)) accepted++
      }),
      { numRuns },
    )
    // enough edited texts get through the fast path for the comparison to mean something
    expect(accepted).toBeGreaterThan(numRuns / 30)
  })

  it('agrees with the yaml path on the example constitution', () => {
    const text = readFileSync(join(import.meta.dirname, '../../examples/constitution.yaml'), 'utf8')
    const s = slow(text)
    expect(s.ok).toBe(true)
    expectAgreement(text)
    expect(parseConstitution(text, 'x').constitution).toEqual(s.ok ? s.constitution : undefined)
  })

  it('accepts no file of the malformed corpus', () => {
    const dir = join(import.meta.dirname, '../../test/fixtures/constitutions')
    const files = readdirSync(dir).filter((f) => /\.(ya?ml|json|txt|bin)$/.test(f) || !f.includes('.'))
    expect(files.length).toBeGreaterThanOrEqual(40)
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'latin1')
      expect(fast(text), file).toBeUndefined()
    }
  })

  it('declines anchors, aliases, tags, directives, explicit keys, block scalars and escapes', () => {
    const base = 'constitutional_hash: "608508a9bd224290"\nconnections:\n  github:\n    EXECUTIVE:\n'
    for (const tail of [
      '      permitted_scopes: &s ["repo:read"]\n',
      '      permitted_scopes: *s\n',
      '      permitted_scopes: !!seq ["repo:read"]\n',
      '      permitted_scopes: ["repo\\x3aread"]\n',
      '      permitted_scopes: |\n        repo:read\n',
      '      ? permitted_scopes\n      : ["repo:read"]\n',
      '      permitted_scopes: ["repo:read"]\n      <<: {}\n',
      '      permitted_scopes: ["repo:read",\n        "repo:write"]\n',
      '      permitted_scopes: ["repo:read"]#c\n',
      '      permitted_scopes: ["repo:read"]\n...\n',
      '      permitted_scopes:\t["repo:read"]\n',
    ]) {
      expect(isPlainYaml(base + tail) && loadPlainYaml(base + tail) !== undefined, tail).toBe(false)
    }
    expect(isPlainYaml('%YAML 1.2\n---\na: 1\n')).toBe(false)
    expect(loadPlainYaml(`${base}      permitted_scopes: ["repo:read"]\n`)).toBeDefined()
  })

  it('declines scalars the yaml core schema reads as null, octal, hex or float, and duplicate keys', () => {
    for (const text of [
      'a: ~\n',
      'a: null\n',
      'a: 0o17\n',
      'a: 0x1F\n',
      'a: 1.5\n',
      'a: .inf\n',
      '{: x}\n',
      '~: 1\n',
      'a: 1\na: 2\n',
      'a: 1\n---\nb: 2\n',
    ]) {
      expect(loadPlainYaml(text), text).toBeUndefined()
    }
    // an empty value is null without a type lookup; no valid constitution has a null value
    expect(loadPlainYaml('a:\n')).toEqual({ value: { a: null } })
    expect(loadPlainYaml('a: 12\nb: true\nc: "12"\nd: x\n')).toEqual({
      value: { a: 12, b: true, c: '12', d: 'x' },
    })
  })
})

describe('fastNormalize', () => {
  const valueArb = fc.oneof(
    policyArb as fc.Arbitrary<unknown>,
    policyArb.map((p) => ({ token_vault: p })),
    // near-valid values: one field replaced by something else
    fc
      .tuple(
        policyArb,
        fc.constantFrom(
          'mode',
          'excess_scopes',
          'agents',
          'step_up',
          'connections',
          'constitutional_hash',
          'extra',
        ),
        fc.oneof(
          fc.constant(null),
          fc.constant(undefined),
          fc.integer(),
          fc.string(),
          fc.array(fc.string()),
          fc.dictionary(fc.string(), fc.string()),
        ),
      )
      .map(([p, key, value]) => ({ ...p, [key]: value })),
    fc
      .tuple(
        policyArb,
        fc.constantFrom('permitted_scopes', 'high_risk_scopes', 'rate_limit', 'other'),
        fc.anything(),
      )
      .map(([p, key, value]) => {
        const connections = Object.entries(p.connections)
        if (connections.length === 0) return p
        const [name, roles] = connections[0]!
        const role = Object.keys(roles)[0]
        if (role === undefined) return p
        return {
          ...p,
          connections: { ...p.connections, [name]: { ...roles, [role]: { ...roles[role], [key]: value } } },
        }
      }),
  )

  it('builds exactly what the full check builds, and only when the full check finds nothing', () => {
    let built = 0
    fc.assert(
      fc.property(valueArb, (value) => {
        const f = fastNormalize(value)
        if (f === undefined) return
        built++
        const full = checkConstitutionFully(value, 'x', NO_POSITION)
        expect(full.errors).toEqual([])
        expect(full.warnings).toEqual([])
        expect(f).toEqual(full.constitution)
        expect(JSON.stringify(f)).toBe(JSON.stringify(full.constitution))
        expect(Object.isFrozen(f) && Object.isFrozen(f.connections)).toBe(true)
      }),
      { numRuns: 1000 },
    )
    expect(built).toBeGreaterThan(100)
  })
})
