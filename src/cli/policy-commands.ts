/**
 * The policy commands (DESIGN §9): `validate`, `hash`, `check`, `diff`, `test`. Each takes
 * `--json` for one JSON document on stdout. Exit codes: 0 ok / permitted, 1 denied or failed
 * (or, for `diff`, something widens), 2 usage error, 3 invalid constitution.
 */
import { type Command, InvalidArgumentError } from 'commander'
import type { ConstitutionError } from '../errors.js'
import type { MACIScopePolicy } from '../policy/index.js'
import type { PolicyValidationResult } from '../policy/types.js'
import { type CliContext, ExitCode, printJson, type RegisterCommands } from './context.js'
import { columns, formatIssue, issueJson, list, resultJson } from './format.js'
import { DEFAULT_MAX_BYTES, loadPolicy, readTextFile } from './load.js'
import { type PolicyTestCase, parseTestCases, TestCasesError } from './policy-cases.js'
import { diffPolicies, type PolicyDiff } from './policy-diff.js'

interface CommonOptions {
  json?: boolean
  maxBytes: number
}

/** A cases file larger than this is refused before parsing. */
const MAX_CASES_BYTES = 16 * 1024 * 1024

function parseMaxBytes(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive whole number of bytes')
  }
  return n
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--json', 'print one JSON document on stdout')
    .option('--max-bytes <n>', 'largest constitution accepted, in bytes', parseMaxBytes, DEFAULT_MAX_BYTES)
}

/** Reports a constitution that did not load and sets exit code 3. */
export function reportInvalid(
  ctx: CliContext,
  opts: { json?: boolean | undefined },
  file: string,
  error: ConstitutionError,
): void {
  ctx.exitCode = ExitCode.INVALID_CONSTITUTION
  if (opts.json) {
    printJson(ctx, { ok: false, file, issues: error.issues.map(issueJson) })
    return
  }
  for (const issue of error.issues) ctx.io.stderr(`${formatIssue(issue)}\n`)
  const n = error.issues.length
  ctx.io.stderr(`${file}: invalid constitution (${n} ${n === 1 ? 'problem' : 'problems'})\n`)
}

async function load(
  ctx: CliContext,
  opts: CommonOptions,
  file: string,
): Promise<MACIScopePolicy | undefined> {
  const loaded = await loadPolicy(ctx, file, opts.maxBytes)
  if (loaded.ok) return loaded.policy
  reportInvalid(ctx, opts, file, loaded.error)
  return undefined
}

function splitScopes(value: string): string[] {
  // Scope tokens never contain commas or spaces (RFC 6749 §3.3), so both separate them.
  return value.split(/[\s,]+/).filter((s) => s.length > 0)
}

async function validateCommand(ctx: CliContext, file: string, opts: CommonOptions): Promise<void> {
  const loaded = await loadPolicy(ctx, file, opts.maxBytes)
  if (!loaded.ok) {
    ctx.exitCode = ExitCode.INVALID_CONSTITUTION
    const issues = loaded.error.issues
    if (opts.json) {
      printJson(ctx, {
        ok: false,
        policyDigest: null,
        constitutionalHash: null,
        issues: issues.map(issueJson),
        warnings: [],
      })
      return
    }
    for (const issue of issues) ctx.io.stdout(`${formatIssue(issue)}\n`)
    ctx.io.stdout(`${file}: invalid (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'})\n`)
    return
  }
  const policy = loaded.policy
  if (opts.json) {
    printJson(ctx, {
      ok: true,
      policyDigest: policy.policyDigest,
      constitutionalHash: policy.constitutionalHash,
      issues: [],
      warnings: policy.warnings.map(issueJson),
    })
    return
  }
  for (const w of policy.warnings) ctx.io.stdout(`${formatIssue(w, 'warning')}\n`)
  const n = policy.warnings.length
  const warned = n > 0 ? ` with ${n} ${n === 1 ? 'warning' : 'warnings'}` : ''
  ctx.io.stdout(`${file}: ok${warned}\n`)
  ctx.io.stdout(
    columns(
      [
        ['policy digest', policy.policyDigest],
        ['constitutional hash', policy.constitutionalHash],
        ['mode', `${policy.mode}, excess_scopes ${policy.excessScopes}`],
        ['connections', `${policy.connections.length}: ${list(policy.connections)}`],
        ['roles', `${policy.roles.length}: ${list(policy.roles)}`],
        [
          'agents',
          policy.agents
            ? `${policy.agents.size}: ${list([...policy.agents.keys()].sort())}`
            : 'any agent, any role',
        ],
        [
          'step-up approvers',
          policy.stepUp.approvers ? list(policy.stepUp.approvers) : 'anyone but the requester',
        ],
      ],
      '  ',
    ),
  )
}

async function hashCommand(ctx: CliContext, file: string, opts: CommonOptions): Promise<void> {
  const policy = await load(ctx, opts, file)
  if (!policy) return
  if (opts.json) {
    printJson(ctx, { policyDigest: policy.policyDigest, constitutionalHash: policy.constitutionalHash })
    return
  }
  ctx.io.stdout(
    columns([
      ['policy digest', policy.policyDigest],
      ['constitutional hash', policy.constitutionalHash],
    ]),
  )
}

interface CheckOptions extends CommonOptions {
  agent: string
  role: string
  connection: string
  scopes: string
}

function describeDecision(result: PolicyValidationResult): string {
  if (result.shadow) return 'deny (shadow mode: let through)'
  if (result.decision === 'step_up') return 'step_up (permitted after approval)'
  return result.decision
}

async function checkCommand(ctx: CliContext, file: string, opts: CheckOptions): Promise<void> {
  const policy = await load(ctx, opts, file)
  if (!policy) return
  const request = {
    agentId: opts.agent,
    role: opts.role,
    connection: opts.connection,
    scopes: splitScopes(opts.scopes),
  }
  const result = policy.validate(request)
  ctx.exitCode = result.permitted ? ExitCode.OK : ExitCode.DENIED
  if (opts.json) {
    printJson(ctx, resultJson(result))
    return
  }
  const rows: string[][] = [
    ['decision', describeDecision(result)],
    ['request', `${request.agentId} as ${request.role} on ${request.connection}: ${list(request.scopes)}`],
  ]
  if (result.grantedScopes.length > 0) rows.push(['granted', list(result.grantedScopes)])
  if (result.stepUpScopes.length > 0) rows.push(['step-up', list(result.stepUpScopes)])
  if (result.deniedScopes.length > 0) rows.push(['denied', list(result.deniedScopes)])
  if (result.error) rows.push(['error', `${result.error.name} (${result.error.code})`])
  rows.push(['policy', `${result.policyDigest} (constitutional hash ${result.constitutionalHash})`])
  ctx.io.stdout(columns(rows))
  if (result.reasons.length > 0) {
    ctx.io.stdout('reasons\n')
    ctx.io.stdout(
      columns(
        result.reasons.map((r) => [r.code, r.message]),
        '  ',
      ),
    )
  }
}

const MARK: Record<string, string> = {
  connection_added: '+',
  role_added: '+',
  scopes_gained: '+',
  agent_added: '+',
  agent_roles_gained: '+',
  approvers_gained: '+',
  connection_removed: '-',
  role_removed: '-',
  scopes_lost: '-',
  agent_removed: '-',
  agent_roles_lost: '-',
  approvers_lost: '-',
}

function printDiff(ctx: CliContext, oldFile: string, newFile: string, diff: PolicyDiff): void {
  const out = ctx.io.stdout
  out(`--- ${oldFile}  ${diff.old.policyDigest}\n`)
  out(`+++ ${newFile}  ${diff.new.policyDigest}\n`)
  if (diff.changes.length === 0) {
    out(diff.identical ? 'no changes: same policy\n' : 'no changes in what is granted\n')
    return
  }
  const rows = diff.changes.map((c) => [MARK[c.kind] ?? '~', c.message, c.widens ? 'WIDENS' : ''])
  out(columns(rows))
  const widening = diff.changes.filter((c) => c.widens).length
  const total = diff.changes.length
  out(
    widening > 0
      ? `${total} ${total === 1 ? 'change' : 'changes'}, ${widening} widening\n`
      : `${total} ${total === 1 ? 'change' : 'changes'}, none widening\n`,
  )
}

async function diffCommand(
  ctx: CliContext,
  oldFile: string,
  newFile: string,
  opts: CommonOptions,
): Promise<void> {
  const before = await loadPolicy(ctx, oldFile, opts.maxBytes)
  const after = await loadPolicy(ctx, newFile, opts.maxBytes)
  if (!before.ok || !after.ok) {
    const issues = [...(before.ok ? [] : before.error.issues), ...(after.ok ? [] : after.error.issues)]
    ctx.exitCode = ExitCode.INVALID_CONSTITUTION
    if (opts.json) {
      printJson(ctx, { ok: false, issues: issues.map(issueJson) })
      return
    }
    for (const issue of issues) ctx.io.stderr(`${formatIssue(issue)}\n`)
    return
  }
  const diff = diffPolicies(before.policy, after.policy)
  ctx.exitCode = diff.widens ? ExitCode.DENIED : ExitCode.OK
  if (opts.json) printJson(ctx, diff)
  else printDiff(ctx, oldFile, newFile, diff)
}

interface CaseOutcome {
  name: string
  line: number
  pass: boolean
  expect: PolicyTestCase['expect']
  reason: string | null
  actual: { decision: PolicyValidationResult['decision']; reasons: string[] }
  message: string | null
}

function runCase(policy: MACIScopePolicy, c: PolicyTestCase): CaseOutcome {
  const result = policy.validate(c.request)
  const codes = [...new Set(result.reasons.map((r) => r.code))]
  const decisionOk = result.decision === c.expect
  const reasonOk = c.reason === undefined || codes.includes(c.reason)
  const pass = decisionOk && reasonOk
  const expected = c.reason ? `${c.expect} (${c.reason})` : c.expect
  const got = `${result.decision} (${codes.join(', ') || 'no reason'})`
  return {
    name: c.name,
    line: c.line,
    pass,
    expect: c.expect,
    reason: c.reason ?? null,
    actual: { decision: result.decision, reasons: codes },
    message: pass ? null : `expected ${expected}, got ${got}`,
  }
}

function passLabel(o: CaseOutcome): string {
  return o.actual.decision === 'deny' ? `deny (${o.actual.reasons.join(', ')})` : o.actual.decision
}

async function testCommand(
  ctx: CliContext,
  file: string,
  casesFile: string,
  opts: CommonOptions,
): Promise<void> {
  const policy = await load(ctx, opts, file)
  if (!policy) return
  const { text, size } = await readTextFile(ctx, casesFile, MAX_CASES_BYTES)
  let cases: PolicyTestCase[]
  try {
    if (size > MAX_CASES_BYTES) {
      throw new TestCasesError([
        {
          code: 'too_large',
          message: `larger than ${MAX_CASES_BYTES} bytes`,
          source: casesFile,
          line: 0,
          column: 0,
        },
      ])
    }
    cases = parseTestCases(text, casesFile)
  } catch (err) {
    if (!(err instanceof TestCasesError)) throw err
    ctx.exitCode = ExitCode.USAGE
    if (opts.json) printJson(ctx, { ok: false, issues: err.issues.map(issueJson) })
    else for (const issue of err.issues) ctx.io.stderr(`${formatIssue(issue)}\n`)
    return
  }
  const outcomes = cases.map((c) => runCase(policy, c))
  const failed = outcomes.filter((o) => !o.pass).length
  const passed = outcomes.length - failed
  ctx.exitCode = failed > 0 ? ExitCode.DENIED : ExitCode.OK
  if (opts.json) {
    printJson(ctx, { ok: failed === 0, total: outcomes.length, passed, failed, cases: outcomes })
    return
  }
  ctx.io.stdout(`${casesFile} against ${file}:\n`)
  const rows = outcomes.map((o) => [
    o.pass ? 'PASS' : 'FAIL',
    `${casesFile}:${o.line}`,
    o.name,
    o.pass ? passLabel(o) : (o.message ?? ''),
  ])
  ctx.io.stdout(columns(rows, '  '))
  ctx.io.stdout(`${'-'.repeat(40)}\n`)
  ctx.io.stdout(`PASS: ${passed}/${outcomes.length}\n`)
  if (failed > 0) ctx.io.stdout(`FAIL: ${failed}/${outcomes.length}\n`)
}

/** Adds `validate`, `hash`, `check`, `diff` and `test` to the program. */
export const registerPolicyCommands: RegisterCommands = (program, ctx) => {
  withCommon(
    program
      .command('validate')
      .description('load a constitution and report every problem as file:line:column: code: message')
      .argument('<file>', 'constitution YAML file'),
  ).action((file: string, opts: CommonOptions) => validateCommand(ctx, file, opts))

  withCommon(
    program
      .command('hash')
      .description("print a constitution's policy digest and constitutional hash")
      .argument('<file>', 'constitution YAML file'),
  ).action((file: string, opts: CommonOptions) => hashCommand(ctx, file, opts))

  withCommon(
    program
      .command('check')
      .description('decide one request offline (exit 0 permitted, including step-up; 1 denied)')
      .argument('<file>', 'constitution YAML file')
      .requiredOption('--agent <id>', 'agent id')
      .requiredOption('--role <role>', 'MACI role the agent acts in')
      .requiredOption('--connection <name>', 'Auth0 connection, e.g. github')
      .requiredOption('--scopes <list>', 'requested scopes, comma-separated'),
  ).action((file: string, opts: CheckOptions) => checkCommand(ctx, file, opts))

  withCommon(
    program
      .command('diff')
      .description('compare two constitutions per connection and role (exit 1 when anything widens)')
      .argument('<old>', 'the constitution in force')
      .argument('<new>', 'the proposed constitution'),
  ).action((oldFile: string, newFile: string, opts: CommonOptions) =>
    diffCommand(ctx, oldFile, newFile, opts),
  )

  withCommon(
    program
      .command('test')
      .description(
        'run decision tests: a YAML list of { name, request, expect, reason? } (exit 1 on any failure)',
      )
      .argument('<file>', 'constitution YAML file')
      .argument('<cases>', 'test cases YAML file'),
  ).action((file: string, casesFile: string, opts: CommonOptions) => testCommand(ctx, file, casesFile, opts))
}
