import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { MACIScopePolicy } from '../policy/index.js'
import type { CliIO } from './context.js'
import { runCli } from './program.js'

const dir = mkdtempSync(join(tmpdir(), 'acgs-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const example = readFileSync(new URL('../../examples/constitution.yaml', import.meta.url), 'utf8')
const exampleCases = readFileSync(new URL('../../examples/constitution.test.yaml', import.meta.url), 'utf8')
writeFileSync(join(dir, 'constitution.yaml'), example)
writeFileSync(join(dir, 'constitution.test.yaml'), exampleCases)

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text)
  return name
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read arbitrary JSON documents
type Json = any

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => Json }> {
  const out: string[] = []
  const err: string[] = []
  const io: CliIO = {
    stdout: (t) => {
      out.push(t)
    },
    stderr: (t) => {
      err.push(t)
    },
    env: {},
    cwd: dir,
  }
  const code = await runCli(argv, io)
  return { code, out: out.join(''), err: err.join(''), json: () => JSON.parse(out.join('')) }
}

const check = (agent: string, role: string, connection: string, scopes: string, ...rest: string[]) =>
  cli(
    'check',
    'constitution.yaml',
    '--agent',
    agent,
    '--role',
    role,
    '--connection',
    connection,
    '--scopes',
    scopes,
    ...rest,
  )

describe('acgs-auth0 check', () => {
  it('planner/EXECUTIVE reading issues is permitted: exit 0', async () => {
    const r = await check('planner', 'EXECUTIVE', 'github', 'repo:read')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^decision\s+allow$/m)
    expect(r.out).toMatch(/^granted\s+repo:read$/m)
  })

  it('builder/IMPLEMENTER asking repo:write needs step-up, which counts as permitted', async () => {
    const r = await check('builder', 'IMPLEMENTER', 'github', 'repo:read,repo:write', '--json')
    expect(r.code).toBe(0)
    expect(r.json()).toMatchObject({
      permitted: true,
      decision: 'step_up',
      stepUpRequired: true,
      stepUpScopes: ['repo:write'],
      deniedScopes: [],
      error: null,
      constitutionalHash: '608508a9bd224290',
      shadow: false,
    })
  })

  it('planner asking repo:write is a scope violation: exit 1, error as { code, message }', async () => {
    const r = await check('planner', 'EXECUTIVE', 'github', 'repo:write', '--json')
    expect(r.code).toBe(1)
    const doc = r.json()
    expect(doc).toMatchObject({ permitted: false, decision: 'deny', deniedScopes: ['repo:write'] })
    expect(Object.keys(doc.error).sort()).toEqual(['code', 'message'])
    expect(doc.error.code).toBe('ERR_SCOPE_VIOLATION')
    expect(doc.error.message).toContain('repo:write')
    expect(doc.reasons[0].code).toBe('scope_violation')
  })

  it('monitor asking delete_repo is denied; an unassigned role is denied; JUDICIAL has no github rule', async () => {
    expect((await check('monitor', 'MONITOR', 'github', 'delete_repo', '--json')).json().error.code).toBe(
      'ERR_SCOPE_VIOLATION',
    )
    const claimed = await check('planner', 'IMPLEMENTER', 'github', 'repo:write', '--json')
    expect(claimed.code).toBe(1)
    expect(claimed.json().error.code).toBe('ERR_AGENT_ROLE_NOT_ASSIGNED')
    const judicial = await check('reviewer', 'JUDICIAL', 'github', 'repo:read')
    expect(judicial.code).toBe(1)
    expect(judicial.out).toMatch(/^decision\s+deny$/m)
    expect(judicial.out).toContain('ERR_ROLE_NOT_PERMITTED')
  })

  it('an empty scope list is an invalid request, not "every scope"', async () => {
    const r = await check('planner', 'EXECUTIVE', 'github', ' , ', '--json')
    expect(r.code).toBe(1)
    expect(r.json().error.code).toBe('ERR_INVALID_REQUEST')
  })

  it('a missing option or an unreadable file is a usage error (exit 2) naming the file', async () => {
    const missing = await cli(
      'check',
      'constitution.yaml',
      '--agent',
      'planner',
      '--role',
      'EXECUTIVE',
      '--scopes',
      'x',
    )
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('--connection')
    const gone = await cli(
      'check',
      'nope.yaml',
      '--agent',
      'a',
      '--role',
      'R',
      '--connection',
      'c',
      '--scopes',
      'x',
    )
    expect(gone.code).toBe(2)
    expect(gone.err).toContain('nope.yaml')
    expect((await cli('validate', '.')).err).toContain('not a regular file')
    expect((await cli('validate', 'constitution.yaml', '--max-bytes', 'lots')).code).toBe(2)
  })
})

describe('acgs-auth0 validate and hash', () => {
  it('validate --json prints { ok, policyDigest, constitutionalHash, issues, warnings }', async () => {
    const r = await cli('validate', 'constitution.yaml', '--json')
    expect(r.code).toBe(0)
    const doc = r.json()
    expect(Object.keys(doc).sort()).toEqual([
      'constitutionalHash',
      'issues',
      'ok',
      'policyDigest',
      'warnings',
    ])
    const policy = MACIScopePolicy.fromYamlString(example)
    expect(doc).toMatchObject({
      ok: true,
      policyDigest: policy.policyDigest,
      constitutionalHash: '608508a9bd224290',
      issues: [],
    })
  })

  it('warnings do not fail validation and are printed compiler-style', async () => {
    const warned = file(
      'warned.yaml',
      'token_vault:\n  constitutional_hash: "608508a9bd224290"\n  connections:\n    github:\n      REVIEWER:\n        permitted_scopes: ["repo:read"]\n',
    )
    const human = await cli('validate', warned)
    expect(human.code).toBe(0)
    expect(human.out).toMatch(/^warned\.yaml:5:\d+: warning: custom_role: .+$/m)
    expect(human.out).toContain('warned.yaml: ok with 1 warning')
    const doc = (await cli('validate', warned, '--json')).json()
    expect(doc.ok).toBe(true)
    expect(doc.warnings).toEqual([
      expect.objectContaining({ code: 'custom_role', source: 'warned.yaml', line: 5 }),
    ])
  })

  it('an invalid constitution exits 3 with compiler-style file:line:col lines', async () => {
    const bad = file(
      'bad.yaml',
      'token_vault:\n  constitutional_hash: "608508a9bd224290"\n  connections:\n    github:\n      EXECUTIVE:\n        permited_scopes: ["repo:read"]\n',
    )
    const human = await cli('validate', bad)
    expect(human.code).toBe(3)
    expect(human.out).toMatch(/^bad\.yaml:6:\d+: [a-z_]+: .+$/m)
    const json = await cli('validate', bad, '--json')
    expect(json.code).toBe(3)
    const doc = json.json()
    expect(doc.ok).toBe(false)
    expect(doc.policyDigest).toBeNull()
    expect(
      doc.issues.some((i: { line: number; source: string }) => i.line === 6 && i.source === 'bad.yaml'),
    ).toBe(true)
    expect(
      (await cli('check', bad, '--agent', 'a', '--role', 'R', '--connection', 'c', '--scopes', 'x')).code,
    ).toBe(3)
    expect((await cli('hash', bad)).code).toBe(3)
  })

  it('a constitution over --max-bytes is refused by size (exit 3); raising the limit loads it', async () => {
    const padded = file('padded.yaml', `${example}\n${'#'.repeat(6000)}\n`)
    const r = await cli('validate', padded, '--max-bytes', '4096', '--json')
    expect(r.code).toBe(3)
    expect(r.json().issues[0]).toMatchObject({ code: 'too_large', source: 'padded.yaml' })
    expect(r.json().issues[0].message).toContain(
      `${Buffer.byteLength(readFileSync(join(dir, padded)))} bytes`,
    )
    expect((await cli('validate', padded, '--max-bytes', '100000')).code).toBe(0)
  })

  it('hash prints the policy digest and the constitutional hash, the same for a reformatted file', async () => {
    const policy = MACIScopePolicy.fromYamlString(example)
    const r = await cli('hash', 'constitution.yaml')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(new RegExp(`^policy digest\\s+${policy.policyDigest}$`, 'm'))
    expect(r.out).toMatch(/^constitutional hash\s+608508a9bd224290$/m)
    const reformatted = file('reformatted.yaml', example.replace(/#.*$/gm, '').replace(/\n\s*\n/g, '\n'))
    expect((await cli('hash', reformatted, '--json')).json()).toEqual({
      policyDigest: policy.policyDigest,
      constitutionalHash: '608508a9bd224290',
    })
  })
})

describe('acgs-auth0 diff', () => {
  const widened = file(
    'widened.yaml',
    example.replace(
      'permitted_scopes: ["read:user", "repo:read"]\n',
      'permitted_scopes: ["read:user", "repo:read", "repo:write"]\n',
    ),
  )
  const narrowed = file(
    'narrowed.yaml',
    example.replace(
      'permitted_scopes: ["channels:read", "channels:history"]',
      'permitted_scopes: ["channels:read"]',
    ),
  )

  it('exits 0 when nothing changes', async () => {
    const r = await cli('diff', 'constitution.yaml', 'constitution.yaml')
    expect(r.code).toBe(0)
    expect(r.out).toContain('no changes')
  })

  it('exits 1 and marks the change when a role gains a scope', async () => {
    const r = await cli('diff', 'constitution.yaml', widened)
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/^\+\s+github EXECUTIVE: gains repo:write\s+WIDENS$/m)
    const doc = (await cli('diff', 'constitution.yaml', widened, '--json')).json()
    expect(doc.widens).toBe(true)
    expect(doc.changes).toEqual([
      expect.objectContaining({
        kind: 'scopes_gained',
        connection: 'github',
        role: 'EXECUTIVE',
        items: ['repo:write'],
      }),
    ])
  })

  it('exits 0 when the change only narrows, and 1 the other way round', async () => {
    const r = await cli('diff', 'constitution.yaml', narrowed)
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^-\s+slack MONITOR: loses channels:history$/m)
    expect((await cli('diff', narrowed, 'constitution.yaml')).code).toBe(1)
  })

  it('an invalid side exits 3, an unreadable one 2', async () => {
    expect((await cli('diff', 'constitution.yaml', file('junk.yaml', 'token_vault: ['))).code).toBe(3)
    const gone = await cli('diff', 'constitution.yaml', 'missing.yaml')
    expect(gone.code).toBe(2)
    expect(gone.err).toContain('missing.yaml')
  })
})

describe('acgs-auth0 test', () => {
  it('the example cases all pass: exit 0, one PASS line per case', async () => {
    const r = await cli('test', 'constitution.yaml', 'constitution.test.yaml')
    expect(r.code).toBe(0)
    const n = (r.out.match(/^ {2}PASS /gm) ?? []).length
    expect(n).toBeGreaterThanOrEqual(10)
    expect(r.out).toContain(`PASS: ${n}/${n}`)
    expect(r.out).not.toContain('FAIL')
  })

  it('a failing case exits 1 and says what was expected and what came', async () => {
    const cases = file(
      'failing.test.yaml',
      [
        '- name: planner writes',
        '  request: { agent: planner, role: EXECUTIVE, connection: github, scopes: ["repo:write"] }',
        '  expect: allow',
        '- name: wrong reason',
        '  request: { agent: planner, role: EXECUTIVE, connection: github, scopes: ["repo:write"] }',
        '  expect: deny',
        '  reason: role_not_permitted',
        '- name: fine',
        '  request: { agent: planner, role: EXECUTIVE, connection: github, scopes: ["repo:read"] }',
        '  expect: allow',
      ].join('\n'),
    )
    const r = await cli('test', 'constitution.yaml', cases)
    expect(r.code).toBe(1)
    expect(r.out).toMatch(
      /FAIL\s+failing\.test\.yaml:1\s+planner writes\s+expected allow, got deny \(scope_violation\)/,
    )
    expect(r.out).toMatch(
      /FAIL\s+failing\.test\.yaml:4\s+wrong reason\s+expected deny \(role_not_permitted\), got deny/,
    )
    expect(r.out).toContain('PASS: 1/3')
    expect(r.out).toContain('FAIL: 2/3')
    const doc = (await cli('test', 'constitution.yaml', cases, '--json')).json()
    expect(doc).toMatchObject({ ok: false, total: 3, passed: 1, failed: 2 })
    expect(doc.cases[0]).toMatchObject({ name: 'planner writes', pass: false, actual: { decision: 'deny' } })
  })

  it('a malformed or unreadable cases file is a usage error (exit 2) with file:line', async () => {
    const bad = file(
      'bad.test.yaml',
      '- name: x\n  request: { agent: a, role: R, connection: c, scopes: [x] }\n  expect: perhaps\n',
    )
    const r = await cli('test', 'constitution.yaml', bad)
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/^bad\.test\.yaml:3:11: invalid_value: /m)
    const gone = await cli('test', 'constitution.yaml', 'nowhere.yaml')
    expect(gone.code).toBe(2)
    expect(gone.err).toContain('nowhere.yaml')
  })
})
