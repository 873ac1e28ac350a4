import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConstitutionError, type ConstitutionIssue } from '../errors.js'
import { constitutionFromObject, parseConstitution } from './index.js'

const WRAPPED = `token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
`

function issuesOf(fn: () => unknown): ConstitutionIssue[] {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConstitutionError)
    return [...(err as ConstitutionError).issues]
  }
  throw new Error('expected a ConstitutionError')
}

const at = (issues: readonly ConstitutionIssue[]) => issues.map((i) => `${i.code}@${i.line}:${i.column}`)

describe('parseConstitution', () => {
  it('loads the wrapped and the bare form to the same constitution', () => {
    const bare = WRAPPED.replace('token_vault:\n', '').replace(/^ {2}/gm, '')
    const a = parseConstitution(WRAPPED, 'a.yaml')
    const b = parseConstitution(bare, 'b.yaml')
    expect(b.constitution).toEqual(a.constitution)
    expect(a.constitution).toEqual({
      constitutionalHash: '608508a9bd224290',
      mode: 'enforce',
      excessScopes: 'deny',
      connections: {
        github: { EXECUTIVE: { permittedScopes: ['read:user', 'repo:read'], highRiskScopes: [] } },
      },
    })
    expect(Object.isFrozen(a.constitution.connections.github)).toBe(true)
    expect(a.source).toBe('a.yaml')
  })

  it('loads JSON text with the right structure', () => {
    const json = JSON.stringify({
      token_vault: {
        constitutional_hash: '608508a9bd224290',
        connections: { github: { EXECUTIVE: { permitted_scopes: ['repo:read'] } } },
      },
    })
    expect(parseConstitution(json).constitution.connections.github?.EXECUTIVE?.permittedScopes).toEqual([
      'repo:read',
    ])
  })

  it('reports every problem at once, in document order, with positions', () => {
    const text = `token_vault:
  constitutional_hash: "XYZ"
  mode: strict
  colour: blue
  agents:
    planner: [GHOST]
  connections:
    "bad name":
      EXECUTIVE:
        permitted_scopes: ["ok", "not ok"]
        high_risk_scopes: ["admin"]
        rate_limit: { max: 0, per_seconds: 60 }
`
    const issues = issuesOf(() => parseConstitution(text, 'c.yaml'))
    expect(at(issues)).toEqual([
      'invalid_hash@2:24',
      'invalid_mode@3:9',
      'unknown_key@4:3',
      'agent_role_undefined@6:15',
      'invalid_connection_name@8:5',
      'invalid_scope@10:34',
      'high_risk_not_permitted@11:28',
      'out_of_range@12:28',
    ])
    for (const i of issues) expect(i.source).toBe('c.yaml')
    expect(issues[0]?.message).toContain('16 lowercase hex digits')
    expect(issues[2]?.message).toContain('expected one of constitutional_hash')
  })

  it('keeps checking after duplicate keys', () => {
    const issues = issuesOf(() => parseConstitution(`${WRAPPED}  mode: shadow\n  mode: loud\n`))
    expect(at(issues)).toEqual(['duplicate_key@8:3', 'invalid_mode@8:9'])
  })

  it('returns warnings without failing', () => {
    const text = `constitutional_hash: "608508a9bd224290"
step_up:
  approvers: [JUDICIAL, REVIEWER]
connections:
  github:
    ROBOT:
      permitted_scopes: ["a", "b", "a"]
    EXECUTIVE:
      permitted_scopes: []
`
    const { warnings, constitution } = parseConstitution(text, 'w.yaml')
    expect(at(warnings)).toEqual([
      'custom_role@3:25',
      'custom_role@6:5',
      'duplicate_scope@7:36',
      'no_permitted_scopes@9:7',
    ])
    expect(constitution.connections.github?.ROBOT?.permittedScopes).toEqual(['a', 'b'])
    expect(constitution.stepUp).toEqual({ approvers: ['JUDICIAL', 'REVIEWER'] })
  })

  it('accepts an agent bound to an approver-only role', () => {
    const text = `${WRAPPED.replace('  connections:', '  agents: { judge: [JUDICIAL], planner: [EXECUTIVE] }\n  step_up: { approvers: [JUDICIAL] }\n  connections:')}`
    expect(parseConstitution(text).constitution.agents).toEqual({
      judge: ['JUDICIAL'],
      planner: ['EXECUTIVE'],
    })
  })

  it('enforces maxBytes on UTF-8 bytes and lets it be raised', () => {
    const padded = `${WRAPPED}# ${'x'.repeat(5000)}\n`
    expect(at(issuesOf(() => parseConstitution(padded, 's', { maxBytes: 4096 })))).toEqual(['too_large@0:0'])
    expect(parseConstitution(padded, 's', { maxBytes: 8192 }).constitution.mode).toBe('enforce')
    expect(() => parseConstitution(padded, 's', { maxBytes: 0 })).toThrow(TypeError)
  })

  it('strips a byte-order mark', () => {
    expect(parseConstitution(`\uFEFF${WRAPPED}`).constitution.constitutionalHash).toBe('608508a9bd224290')
  })
})

describe('constitutionFromObject', () => {
  it('applies the same checks with line and column 0', () => {
    const issues = issuesOf(() =>
      constitutionFromObject({
        token_vault: {
          constitutional_hash: 'nope',
          connections: { github: { EXECUTIVE: { permitted_scopes: ['a b'] } } },
        },
      }),
    )
    expect(at(issues)).toEqual(['invalid_hash@0:0', 'invalid_scope@0:0'])
    expect(issues[0]?.source).toBe('<object>')
  })

  it('has no size limit', () => {
    const scopes = Array.from({ length: 300_000 }, (_, i) => `scope:${i}`)
    const parsed = constitutionFromObject({
      constitutional_hash: '608508a9bd224290',
      connections: { github: { EXECUTIVE: { permitted_scopes: scopes } } },
    })
    expect(parsed.constitution.connections.github?.EXECUTIVE?.permittedScopes).toHaveLength(300_000)
  })

  it('refuses non-objects and prototype tricks', () => {
    expect(at(issuesOf(() => constitutionFromObject(null)))).toEqual(['not_a_mapping@0:0'])
    expect(at(issuesOf(() => constitutionFromObject(new Map())))).toEqual(['not_a_mapping@0:0'])
    const evil = JSON.parse(
      '{"constitutional_hash":"608508a9bd224290","connections":{},"agents":{"__proto__":["EXECUTIVE"]}}',
    )
    expect(issuesOf(() => constitutionFromObject(evil)).map((i) => i.code)).toEqual([
      'invalid_agent_id',
      'agent_role_undefined',
    ])
    const body = JSON.parse(
      '{"constitutional_hash":"608508a9bd224290","connections":{},"__proto__":{"mode":"shadow"}}',
    )
    expect(issuesOf(() => constitutionFromObject(body)).map((i) => i.code)).toEqual(['unknown_key'])
    const yaml = 'constitutional_hash: "608508a9bd224290"\nconnections: {}\nagents: {__proto__: []}\n'
    expect(at(issuesOf(() => parseConstitution(yaml)))).toEqual(['invalid_agent_id@3:10'])
  })
})

describe('parseConstitution on JSON text', () => {
  const json = {
    token_vault: {
      constitutional_hash: '608508a9bd224290',
      connections: { github: { EXECUTIVE: { permitted_scopes: ['read:user', 'repo:read'] } } },
    },
  }

  it('loads clean JSON to the same constitution as the equivalent YAML', () => {
    expect(parseConstitution(JSON.stringify(json, null, '\t')).constitution).toEqual(
      parseConstitution(WRAPPED).constitution,
    )
  })

  it('reports duplicate keys and positioned problems in JSON text', () => {
    const dup = '{"constitutional_hash": "608508a9bd224290",\n "connections": {},\n "connections": {}}'
    expect(at(issuesOf(() => parseConstitution(dup)))).toEqual(['duplicate_key@3:2'])
    const warn = JSON.stringify(
      { ...json.token_vault, connections: { github: { ROBOT: { permitted_scopes: [] } } } },
      null,
      2,
    )
    expect(at(parseConstitution(warn).warnings)).toEqual(['custom_role@5:7', 'no_permitted_scopes@6:9'])
  })
})

describe('parseConstitution on arbitrary text', () => {
  it('either loads or throws a ConstitutionError, never anything else', () => {
    const pieces = [
      'token_vault:',
      '\n',
      '  ',
      '- ',
      ': ',
      '[',
      ']',
      '{',
      '}',
      ',',
      '"',
      "'",
      '&a ',
      '*a',
      '#',
      '!tag ',
      '---\n',
      '|\n',
      'EXECUTIVE',
      'repo:read',
      '\t',
      '\\',
      '\u0000',
      'constitutional_hash: "608508a9bd224290"\n',
      'connections:\n',
    ]
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((xs) => xs.join('')),
          fc
            .tuple(fc.nat(WRAPPED.length), fc.string({ maxLength: 5 }))
            .map(([i, s]) => WRAPPED.slice(0, i) + s + WRAPPED.slice(i + 1)),
        ),
        (text) => {
          try {
            parseConstitution(text, 'fuzz.yaml')
          } catch (err) {
            expect(err).toBeInstanceOf(ConstitutionError)
            const issues = (err as ConstitutionError).issues
            expect(issues.length).toBeGreaterThan(0)
            for (const i of issues) expect(i.code).toMatch(/^[a-z_]+$/)
          }
        },
      ),
      { numRuns: 1500 },
    )
  })
})
