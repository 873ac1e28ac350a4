import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseTestCases, TestCasesError } from './policy-cases.js'

function issuesOf(text: string): { code: string; line: number; column: number; message: string }[] {
  try {
    parseTestCases(text, 'cases.yaml')
  } catch (err) {
    expect(err).toBeInstanceOf(TestCasesError)
    return (err as TestCasesError).issues.map(({ code, line, column, message }) => ({
      code,
      line,
      column,
      message,
    }))
  }
  throw new Error('expected the cases file to be refused')
}

describe('parseTestCases', () => {
  it('reads a cases: list with positions', () => {
    const cases = parseTestCases(
      [
        'cases:',
        '  - name: reads',
        '    request: { agent: planner, role: EXECUTIVE, connection: github, scopes: [repo:read] }',
        '    expect: allow',
        '  - name: writes',
        '    request: { agent: planner, role: EXECUTIVE, connection: github, scopes: ["repo:write"] }',
        '    expect: deny',
        '    reason: scope_violation',
      ].join('\n'),
      'cases.yaml',
    )
    expect(cases).toEqual([
      {
        name: 'reads',
        request: { agentId: 'planner', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:read'] },
        expect: 'allow',
        line: 2,
        column: 5,
      },
      {
        name: 'writes',
        request: { agentId: 'planner', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:write'] },
        expect: 'deny',
        reason: 'scope_violation',
        line: 5,
        column: 5,
      },
    ])
  })

  it('reads a bare list and keeps an empty scope list (to test invalid_request)', () => {
    const cases = parseTestCases(
      '- name: empty\n  request: { agent: a, role: R, connection: c, scopes: [] }\n  expect: deny\n',
      'cases.yaml',
    )
    expect(cases[0]?.request.scopes).toEqual([])
  })

  it('reads the shipped example cases', () => {
    const text = readFileSync(new URL('../../examples/constitution.test.yaml', import.meta.url), 'utf8')
    const cases = parseTestCases(text, 'examples/constitution.test.yaml')
    expect(new Set(cases.map((c) => c.expect))).toEqual(new Set(['allow', 'step_up', 'deny']))
    expect(new Set(cases.map((c) => c.reason).filter(Boolean))).toEqual(
      new Set(['invalid_request', 'agent_role_not_assigned', 'role_not_permitted', 'scope_violation']),
    )
  })

  it('reports every problem with its line and column', () => {
    const issues = issuesOf(
      [
        'cases:', //                                                   1
        '  - name: one', //                                            2
        '    request: { agent: planner, role: 7, connection: github, scopes: [repo:read] }', // 3
        '    expect: maybe', //                                        4
        '  - name: two', //                                            5
        '    request: { agent: p, role: R, connection: c, scope: [x] }', // 6
        '    expect: allow', //                                        7
        '    reasn: permitted', //                                     8
        '  - name: three', //                                          9
        '    request: { agent: p, role: R, connection: c, scopes: [x, 1] }', // 10
        '    expect: deny', //                                         11
        '    reason: nope', //                                         12
      ].join('\n'),
    )
    expect(issues.map((i) => [i.code, i.line, i.column])).toEqual([
      ['wrong_type', 3, 38],
      ['invalid_value', 4, 13],
      ['missing_key', 6, 14],
      ['unknown_key', 6, 50],
      ['unknown_key', 8, 5],
      ['wrong_type', 10, 62],
      ['invalid_value', 12, 13],
    ])
    expect(issues[1]?.message).toContain('allow, step_up, deny')
  })

  it('refuses YAML syntax errors and duplicate keys with a position', () => {
    expect(issuesOf('cases:\n  - name: a\n    name: b\n')[0]).toMatchObject({ code: 'yaml_syntax', line: 3 })
    expect(issuesOf('cases: [\n')[0]).toMatchObject({ code: 'yaml_syntax' })
  })

  it('refuses a wrong root, an unknown root key, no cases and duplicate names', () => {
    expect(issuesOf('just text')[0]?.code).toBe('wrong_type')
    expect(issuesOf('tests: []\n').map((i) => i.code)).toEqual(['unknown_key', 'missing_key'])
    expect(issuesOf('cases: []\n')[0]?.code).toBe('empty')
    expect(issuesOf('')[0]?.code).toBe('wrong_type')
    const dup = 'request: { agent: a, role: R, connection: c, scopes: [x] }\n  expect: allow\n'
    expect(issuesOf(`- name: same\n  ${dup}- name: same\n  ${dup}`)).toEqual([
      expect.objectContaining({ code: 'duplicate_name', line: 4 }),
    ])
  })

  it('refuses aliases instead of expanding them', () => {
    const text =
      'cases:\n  - name: a\n    request: &r { agent: a, role: R, connection: c, scopes: [x] }\n    expect: allow\n  - name: b\n    request: *r\n    expect: allow\n'
    expect(issuesOf(text)).toEqual([expect.objectContaining({ code: 'wrong_type', line: 6 })])
  })
})
