import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DemoReport } from '../src/demo/demo.js'

const root = resolve(import.meta.dirname, '..')
const bin = join(root, 'src/cli/bin.ts')
const tsx = import.meta.resolve('tsx')
const dir = mkdtempSync(join(tmpdir(), 'acgs-demo-'))

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', tsx, bin, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, AUTH0_DOMAIN: '', AUTH0_CLIENT_ID: '', AUTH0_CLIENT_SECRET: '' },
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('acgs-auth0 demo', () => {
  let run: ReturnType<typeof cli>
  let report: DemoReport
  beforeAll(() => {
    run = cli(['demo', '--json'])
    report = JSON.parse(run.stdout) as DemoReport
  }, 90_000)

  it('runs the whole story in a fresh folder and exits 0', () => {
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(report.ok).toBe(true)
    expect(existsSync(join(dir, 'acgs-audit.db'))).toBe(true)
  })

  it('ends every step of the story with the outcome the constitution calls for', () => {
    const seen = report.steps.map((s) => [s.agent, s.role, s.scopes.join(' '), s.outcome, s.cached])
    expect(seen).toEqual([
      ['planner', 'EXECUTIVE', 'repo:read', 'granted', false],
      ['planner', 'EXECUTIVE', 'repo:write', 'denied_scope_violation', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'step_up_initiated', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'step_up_denied', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'step_up_initiated', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'granted', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'step_up_initiated', false],
      ['builder', 'IMPLEMENTER', 'repo:write', 'granted', true],
      ['monitor', 'MONITOR', 'delete_repo', 'denied_scope_violation', false],
      ['planner', 'IMPLEMENTER', 'repo:write', 'denied_agent_role', false],
    ])
    const selfApproval = report.steps[3]
    expect(selfApproval?.errorCode).toBe('ERR_STEP_UP_DENIED')
    expect(selfApproval?.reason).toMatch(/requesting agent|itself|self/i)
    expect(report.steps[1]?.reason).toContain('repo:write')
  })

  it('audits every decision and never asks Auth0 for a denied request', () => {
    expect(report.outcomes).toMatchObject({
      granted: 3,
      denied_scope_violation: 2,
      denied_agent_role: 1,
      step_up_initiated: 3,
      step_up_approved: 2,
      step_up_denied: 1,
    })
    // one exchange for the planner's read and one for the builder's first approved push; the repeat is cached
    expect(report.emulator.upstreamRequests).toBe(2)
    const fingerprints = report.steps.map((s) => s.tokenFingerprint).filter(Boolean)
    expect(fingerprints).toHaveLength(3)
    expect(fingerprints[1]).toBe(fingerprints[2])
  })

  it('leaves an audit log that `audit verify` accepts, with its signed checkpoint', () => {
    expect(report.checkpoint).not.toBeNull()
    const cp = report.checkpoint!
    const checkpoint = JSON.parse(readFileSync(cp.file, 'utf8')) as { seq: number }
    expect(checkpoint.seq).toBe(report.audit.entries)
    const verify = cli([
      'audit',
      'verify',
      report.audit.url,
      '--checkpoint',
      cp.file,
      '--public-key',
      cp.publicKeyFile,
      '--json',
    ])
    expect(verify.status).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, entries: report.audit.entries })
  })

  it('prints progress and a summary table without --json', () => {
    const human = cli(['demo', '--audit', 'jsonl:./demo.jsonl'])
    expect(human.status).toBe(0)
    expect(human.stdout).toMatch(/agent\s+role\s+connection\s+scopes\s+outcome\s+reason/)
    expect(human.stdout).toContain('denied_agent_role')
    expect(human.stdout).toContain('chain verified')
    expect(readFileSync(join(dir, 'demo.jsonl'), 'utf8').trim().split('\n')).toHaveLength(
      report.audit.entries,
    )
  })
})

describe('acgs-auth0 demo: exit codes on bad input', () => {
  it('exits 2 for a constitution it cannot read and 3 for one that does not load', () => {
    const missing = cli(['demo', '--constitution', 'nope.yaml', '--audit', 'memory:'])
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain('cannot read nope.yaml')

    writeFileSync(join(dir, 'bad.yaml'), 'token_vault:\n  constitutional_hash: "zz"\n')
    const bad = cli(['demo', '--constitution', 'bad.yaml', '--audit', 'memory:', '--json'])
    expect(bad.status).toBe(3)
    const out = JSON.parse(bad.stdout) as { ok: boolean; issues: { code: string; line: number }[] }
    expect(out.ok).toBe(false)
    expect(out.issues).toContainEqual(expect.objectContaining({ code: 'invalid_hash', line: 2 }))
  })

  it('exits 2 for an audit store it cannot open and 4 for one that does not verify', () => {
    const unopenable = cli(['demo', '--audit', join(dir, 'no-such-dir', 'a.db')])
    expect(unopenable.status).toBe(2)
    expect(unopenable.stderr).toContain('cannot use audit store')

    const path = join(dir, 'tampered.jsonl')
    expect(cli(['demo', '--audit', `jsonl:${path}`, '--json']).status).toBe(0)
    const lines = readFileSync(path, 'utf8').split('\n')
    lines[1] = (lines[1] as string).replace('"planner"', '"mallory"')
    writeFileSync(path, lines.join('\n'))
    const again = cli(['demo', '--audit', `jsonl:${path}`, '--json'])
    expect(again.status).toBe(4)
    expect(again.stderr).toContain('does not verify')
  })
})
