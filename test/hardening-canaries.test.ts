/**
 * Secret canaries: every flow (allow, each denial, step-up approve / deny / expire through the
 * callback, the pending queue and CIBA, every upstream error, a server that echoes what it is
 * sent, the CLI, the demo) runs with unique secret values; then everything the run produced is
 * scanned and no secret may appear anywhere.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { AuditEntryInput, TokenAccessAuditEntry } from '../src/audit/types.js'
import { runCli } from '../src/cli/program.js'
import { runDemo } from '../src/demo/demo.js'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../src/emulator/index.js'
import {
  CallbackApprover,
  CibaApprover,
  ConstitutionalTokenVault,
  type ConstitutionalTokenVaultOptions,
  MACIScopePolicy,
  PendingApprovals,
  resolveAuth0Config,
  StepUpAuthRequiredError,
  TokenAuditLog,
  type TokenAuditLogLike,
  TokenVaultClient,
  TokenVaultGovernanceError,
  type TokenVaultRequest,
  type TokenVaultResponse,
} from '../src/index.js'
import { CanaryScanner } from './helpers/hardening-scan.js'

const hex = () => randomBytes(12).toString('hex')
const CLIENT_ID = 'canary-client'
const SECRET = {
  clientSecret: `canary-cs-${hex()}`,
  wrongClientSecret: `canary-cs-wrong-${hex()}`,
  rtAlice: `canary-rt-alice-${hex()}`,
  rtBob: `canary-rt-bob-${hex()}`,
  rtCarol: `canary-rt-carol-${hex()}`,
  rtUnknown: `canary-rt-unknown-${hex()}`,
  atAlice: `canary-at-alice-${hex()}`,
}
const ALICE = 'auth0|alice'
const ECHO_MODES = [
  'echo-description',
  'echo-error-code',
  'echo-malformed',
  'echo-html',
  'echo-headers',
  'echo-wrong-types',
  'echo-nested',
  'echo-huge',
  'echo-success-fields',
] as const

const YAML = `
token_vault:
  constitutional_hash: "608508a9bd224290"
  agents:
    planner: [EXECUTIVE]
    builder: [IMPLEMENTER]
    judge: [JUDICIAL]
    limited: [EXECUTIVE]
  step_up:
    approvers: [JUDICIAL]
    timeout_seconds: 300
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
      IMPLEMENTER:
        permitted_scopes: ["read:user", "repo:read", "repo:write", "delete_repo"]
        high_risk_scopes: ["repo:write", "delete_repo"]
    slack:
      EXECUTIVE:
        permitted_scopes: ["chat:read"]
        rate_limit: { max: 2, per_seconds: 60 }
${ECHO_MODES.map((m) => `    ${m}:\n      EXECUTIVE:\n        permitted_scopes: ["repo:read"]\n`).join('')}`

const scanner = new CanaryScanner()
  .canary(...Object.values(SECRET))
  // HTTP Basic carries the secret base64-encoded: that form must not leak either
  .canary(Buffer.from(`${CLIENT_ID}:${SECRET.clientSecret}`).toString('base64'))
  // every token the emulator issues, also the ones the vault refused and never released
  .pattern(/emu_at_[A-Za-z0-9_-]{16,}/)
  .pattern(/canary-(?:cs|rt|at)-/)
  .pattern(/demo-(?:secret|rt)-[0-9a-f]{8,}/)

let dir: string
let emulator: TokenVaultEmulator
let echo: Server
let echoUrl: string
let policy: MACIScopePolicy
const stores: TokenAuditLog[] = []
const storeUrls: string[] = []
let tee: TokenAuditLogLike
const released: string[] = []
const written: string[] = []
let restoreWrites: () => void = () => {}

/** Every entry goes to a memory, a JSONL and an SQLite log, so that every store kind is scanned. */
function teeLog(logs: TokenAuditLog[]): TokenAuditLogLike {
  return {
    async append(entry: AuditEntryInput): Promise<TokenAccessAuditEntry> {
      let first: TokenAccessAuditEntry | undefined
      for (const log of logs) {
        const written = await log.append(entry)
        first ??= written
      }
      return first!
    },
  }
}

function vault(extra: Partial<ConstitutionalTokenVaultOptions> = {}, origin = emulator.url) {
  return new ConstitutionalTokenVault({
    policy,
    audit: tee,
    env: {},
    auth0: { domain: origin, clientId: CLIENT_ID, clientSecret: SECRET.clientSecret },
    cache: false,
    client: { maxRetries: 0, timeoutMs: 2_000, retryBaseDelayMs: 1, retryMaxDelayMs: 5 },
    ...extra,
  })
}

/** Runs one exchange, keeps the token (a canary from now on) or every printable form of the error. */
async function attempt(
  name: string,
  v: ConstitutionalTokenVault,
  request: TokenVaultRequest,
): Promise<TokenVaultResponse | Error> {
  try {
    const res = await v.exchange(request)
    released.push(res.accessToken)
    scanner.canary(res.accessToken)
    scanner.value(`${name} response`, res)
    return res
  } catch (err) {
    expect(err, name).toBeInstanceOf(TokenVaultGovernanceError)
    scanner.error(name, err)
    return err as Error
  }
}

const planner = {
  agentId: 'planner',
  role: 'EXECUTIVE',
  connection: 'github',
  scopes: ['repo:read'],
  refreshToken: SECRET.rtAlice,
  userId: ALICE,
  toolName: 'list_issues',
}
const builder = {
  agentId: 'builder',
  role: 'IMPLEMENTER',
  connection: 'github',
  scopes: ['repo:write'],
  refreshToken: SECRET.rtAlice,
  userId: ALICE,
  toolName: 'push',
}
const judge = { id: 'judge', role: 'JUDICIAL' }

function startEcho(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => {
      body += c
    })
    req.on('end', () => {
      const form = new URLSearchParams(body)
      const everything = `${body} ${[...form.values()].join(' ')} ${req.headers.authorization ?? ''}`
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers })
        res.end(JSON.stringify(value))
      }
      switch (form.get('connection')) {
        case 'echo-description':
          return json(400, { error: 'invalid_request', error_description: everything })
        case 'echo-error-code':
          return json(401, { error: form.get('subject_token'), error_description: form.get('client_secret') })
        case 'echo-malformed':
          res.writeHead(200, { 'content-type': 'application/json' })
          return res.end(`{"access_token": "${everything}`)
        case 'echo-html':
          res.writeHead(500, { 'content-type': 'text/html' })
          return res.end(`<html><body><pre>${everything}</pre></body></html>`)
        case 'echo-headers':
          return json(
            429,
            { error: 'too_many_requests', error_description: 'slow down' },
            {
              'retry-after': form.get('subject_token') ?? '',
              'x-ratelimit-reset': form.get('client_secret') ?? '',
              'www-authenticate': `Bearer error="${form.get('subject_token')}"`,
            },
          )
        case 'echo-wrong-types':
          return json(200, {
            access_token: 42,
            token_type: form.get('subject_token'),
            expires_in: form.get('client_secret'),
            scope: [everything],
          })
        case 'echo-nested':
          return json(403, {
            error: { nested: everything },
            error_description: { deeper: [everything] },
          })
        case 'echo-huge':
          return json(400, { error: 'invalid_request', error_description: everything.repeat(2_000) })
        case 'echo-success-fields':
          // a token that is fine, but the rest of the answer quotes the request
          return json(200, {
            access_token: `echo-at-${hex()}`,
            token_type: 'Bearer',
            expires_in: 60,
            scope: 'repo:read',
            issued_token_type: everything,
          })
        default:
          return json(400, { error: 'invalid_request', error_description: 'unknown mode' })
      }
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

beforeAll(async () => {
  // anything printed straight to the process streams is scanned too
  const out = process.stdout.write.bind(process.stdout)
  const err = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    written.push(String(chunk))
    return (out as (...a: unknown[]) => boolean)(chunk, ...rest)
  }) as typeof process.stdout.write
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    written.push(String(chunk))
    return (err as (...a: unknown[]) => boolean)(chunk, ...rest)
  }) as typeof process.stderr.write
  restoreWrites = () => {
    process.stdout.write = out as typeof process.stdout.write
    process.stderr.write = err as typeof process.stderr.write
  }

  dir = mkdtempSync(join(tmpdir(), 'acgs-canary-'))
  policy = MACIScopePolicy.fromYamlString(YAML, 'canary.yaml')
  emulator = await startTokenVaultEmulator({
    clients: [{ clientId: CLIENT_ID, clientSecret: SECRET.clientSecret }],
    users: [
      {
        userId: ALICE,
        refreshToken: SECRET.rtAlice,
        accessToken: SECRET.atAlice,
        connections: {
          github: ['read:user', 'repo:read', 'repo:write', 'delete_repo'],
          slack: ['chat:read'],
        },
      },
      { userId: 'auth0|bob', refreshToken: SECRET.rtBob, connections: { github: ['repo:read'] } },
      { userId: 'auth0|carol', refreshToken: SECRET.rtCarol, connections: { github: ['repo:read'] } },
    ],
    ciba: { interval: 1, expiresIn: 120 },
    now: () => Date.now(),
  })
  echo = await startEcho()
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
  for (const url of ['memory:', `jsonl:${join(dir, 'audit.jsonl')}`, `sqlite:${join(dir, 'audit.db')}`]) {
    stores.push(await TokenAuditLog.open(url))
    storeUrls.push(url)
  }
  tee = teeLog(stores)
})

afterAll(async () => {
  restoreWrites()
  vi.useRealTimers()
  await emulator?.close()
  if (echo) await new Promise((r) => echo.close(r))
  for (const s of stores) await s.close()
  rmSync(dir, { recursive: true, force: true })
})

describe.sequential('secret canaries', () => {
  it('allow: refresh-token and access-token subjects, cached and uncached', async () => {
    const v = vault()
    const a = await attempt('allow rt', v, planner)
    const b = await attempt('allow at', v, {
      ...planner,
      refreshToken: undefined,
      accessToken: SECRET.atAlice,
    })
    const cachedVault = vault({ cache: {} })
    await attempt('allow miss', cachedVault, planner)
    const hit = await attempt('allow hit', cachedVault, planner)
    for (const r of [a, b, hit]) expect(r).not.toBeInstanceOf(Error)
    expect((hit as TokenVaultResponse).cached).toBe(true)
  })

  it('deny: each reason, including hostile free text that quotes the subject token', async () => {
    const v = vault()
    const cases: [string, TokenVaultRequest, string][] = [
      ['invalid empty scopes', { ...planner, scopes: [] }, 'ERR_INVALID_REQUEST'],
      ['invalid both subjects', { ...planner, accessToken: SECRET.atAlice }, 'ERR_INVALID_REQUEST'],
      ['invalid no subject', { ...planner, refreshToken: undefined }, 'ERR_INVALID_REQUEST'],
      ['agent role', { ...planner, role: 'IMPLEMENTER' }, 'ERR_AGENT_ROLE_NOT_ASSIGNED'],
      ['role not permitted', { ...planner, agentId: 'judge', role: 'JUDICIAL' }, 'ERR_ROLE_NOT_PERMITTED'],
      ['scope violation', { ...planner, scopes: ['repo:write'] }, 'ERR_SCOPE_VIOLATION'],
      [
        'tool name quoting the token',
        { ...planner, scopes: ['repo:write'], toolName: `run ${SECRET.rtAlice} now` },
        'ERR_SCOPE_VIOLATION',
      ],
    ]
    for (const [name, request, code] of cases) {
      const err = await attempt(name, v, request)
      expect((err as TokenVaultGovernanceError).code, name).toBe(code)
    }
    const limited = { ...planner, agentId: 'limited', connection: 'slack', scopes: ['chat:read'] }
    await attempt('rate 1', v, limited)
    await attempt('rate 2', v, limited)
    const err = await attempt('rate limited', v, limited)
    expect((err as TokenVaultGovernanceError).code).toBe('ERR_RATE_LIMITED')
  })

  it('step-up through a callback: approve, deny, self-approval, approver role outside the list', async () => {
    const answers = [
      { approved: true, approver: judge },
      { approved: false, approver: judge, reason: 'not during a freeze' },
      { approved: true, approver: { id: 'builder', role: 'JUDICIAL' } },
      { approved: true, approver: { id: 'mallory', role: 'EXECUTIVE' } },
    ]
    let i = 0
    const approver = new CallbackApprover(() => ({ ...answers[i++]!, decidedAt: Date.now() }))
    const v = vault({ stepUp: { approver } })
    const ok = await attempt('callback approve', v, builder)
    expect(ok).not.toBeInstanceOf(Error)
    for (const name of ['callback deny', 'callback self', 'callback role']) {
      const err = await attempt(name, v, builder)
      expect((err as TokenVaultGovernanceError).code, name).toBe('ERR_STEP_UP_DENIED')
    }
    await attempt('no approver', vault(), builder)
  })

  it('step-up through the pending queue: approve, deny, expire, replay', async () => {
    const approvals = new PendingApprovals()
    const v = vault({ stepUp: { approver: approvals, mode: 'interrupt', timeoutMs: 30_000 } })
    const start = async (name: string) => {
      const err = await attempt(name, v, builder)
      expect(err).toBeInstanceOf(StepUpAuthRequiredError)
      return (err as StepUpAuthRequiredError).stepUpId
    }
    const id1 = await start('pending start 1')
    approvals.approve(id1, judge)
    expect(await attempt('pending approved', v, { ...builder, stepUpId: id1 })).not.toBeInstanceOf(Error)
    await attempt('pending replay', v, { ...builder, stepUpId: id1 })
    const id2 = await start('pending start 2')
    approvals.deny(id2, judge, 'not now')
    await attempt('pending denied', v, { ...builder, stepUpId: id2 })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const id3 = await start('pending start 3')
      await vi.advanceTimersByTimeAsync(31_000)
      const err = await attempt('pending expired', v, { ...builder, stepUpId: id3 })
      expect((err as TokenVaultGovernanceError).code).toBe('ERR_STEP_UP_DENIED')
    } finally {
      vi.useRealTimers()
    }
  })

  it('step-up through Auth0 CIBA on the emulator: approve, deny, expire', async () => {
    const io = async (turns = 20) => {
      for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r))
    }
    const until = async (cond: () => boolean) => {
      for (let i = 0; i < 2_000 && !cond(); i++) await io(1)
      expect(cond()).toBe(true)
    }
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const approver = new CibaApprover({
        auth0: { domain: emulator.url, clientId: CLIENT_ID, clientSecret: SECRET.clientSecret },
        env: {},
      })
      const v = vault({ stepUp: { approver, mode: 'interrupt', timeoutMs: 60_000 } })
      const drive = async (name: string, decide: (authReqId: string) => void, seconds: number) => {
        const err = await attempt(`${name} start`, v, builder)
        expect(err).toBeInstanceOf(StepUpAuthRequiredError)
        const id = (err as StepUpAuthRequiredError).stepUpId
        await until(() => emulator.pending().length === 1)
        const pending = emulator.pending()[0]!
        scanner.value(`${name} emulator pending`, emulator.pending())
        decide(pending.authReqId)
        let last: TokenVaultResponse | Error | undefined
        for (let i = 0; i < seconds; i++) {
          await vi.advanceTimersByTimeAsync(1_000)
          await io()
          try {
            last = await v.exchange({ ...builder, stepUpId: id })
            released.push(last.accessToken)
            scanner.canary(last.accessToken)
            break
          } catch (e) {
            last = e as Error
            if (!(e instanceof StepUpAuthRequiredError)) break
          }
        }
        scanner.error(`${name} end`, last)
        return last
      }
      const approved = await drive('ciba approve', (id) => emulator.approve(id), 30)
      expect(approved).not.toBeInstanceOf(Error)
      const denied = await drive('ciba deny', (id) => emulator.deny(id), 30)
      expect((denied as TokenVaultGovernanceError).code).toBe('ERR_STEP_UP_DENIED')
      const expired = await drive('ciba expire', () => {}, 130)
      expect((expired as TokenVaultGovernanceError).code).toBe('ERR_STEP_UP_DENIED')
    } finally {
      vi.useRealTimers()
    }
  })

  it('every upstream error from the emulator', async () => {
    const v = vault()
    const faults: [string, Parameters<TokenVaultEmulator['inject']>[0], TokenVaultRequest][] = [
      [
        '401 no connected account (injected)',
        {
          status: 401,
          body: {
            error: 'federated_connection_refresh_token_not_found',
            error_description: 'Federated connection Refresh Token not found.',
          },
        },
        planner,
      ],
      [
        '403 invalid_grant',
        { status: 403, body: { error: 'invalid_grant', error_description: 'nope' } },
        planner,
      ],
      ['429', { status: 429, headers: { 'retry-after': '1' } }, planner],
      ['503', { status: 503 }, planner],
      ['malformed', { malformed: true }, planner],
      ['reset', { reset: true }, planner],
      [
        'excess scopes',
        {
          status: 200,
          body: {
            access_token: `emu_at_${randomBytes(24).toString('base64url')}`,
            token_type: 'Bearer',
            expires_in: 3600,
            scope: 'repo:read delete_repo',
            issued_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
          },
        },
        planner,
      ],
      [
        'server quotes the subject in a fault body',
        {
          status: 400,
          body: { error: 'invalid_request', error_description: `bad subject_token ${SECRET.rtAlice}` },
        },
        planner,
      ],
    ]
    for (const [name, fault, request] of faults) {
      emulator.inject({ path: '/oauth/token', ...fault })
      const err = await attempt(name, v, request)
      expect(err, name).toBeInstanceOf(TokenVaultGovernanceError)
    }
    // natural errors of the emulated tenant
    await attempt('401 bob has no slack', v, {
      ...planner,
      agentId: 'limited',
      connection: 'slack',
      scopes: ['chat:read'],
      refreshToken: SECRET.rtBob,
    })
    emulator.revoke(SECRET.rtCarol)
    await attempt('revoked refresh token', v, { ...planner, refreshToken: SECRET.rtCarol })
    await attempt('unknown refresh token', v, { ...planner, refreshToken: SECRET.rtUnknown })
    await attempt(
      'wrong client secret',
      vault({
        auth0: { domain: emulator.url, clientId: CLIENT_ID, clientSecret: SECRET.wrongClientSecret },
      }),
      planner,
    )
    // a hung response hits the timeout
    const hung = vault({ client: { maxRetries: 0, timeoutMs: 50 } })
    emulator.inject({ path: '/oauth/token', latencyMs: 10_000 })
    const err = await attempt('hung', hung, planner)
    expect((err as TokenVaultGovernanceError).code).toBe('ERR_TOKEN_VAULT_EXCHANGE')
    emulator.clearFaults()
    scanner.value('emulator requests', emulator.requests)
  })

  it('a server that echoes the request back, in every part of its answer', async () => {
    for (const clientAuth of ['client_secret_post', 'client_secret_basic'] as const) {
      const v = vault(
        {
          auth0: { domain: echoUrl, clientId: CLIENT_ID, clientSecret: SECRET.clientSecret, clientAuth },
          client: { maxRetries: 1, timeoutMs: 2_000, retryBaseDelayMs: 1, retryMaxDelayMs: 5 },
        },
        echoUrl,
      )
      for (const mode of ECHO_MODES) {
        const res = await attempt(`echo ${clientAuth} ${mode}`, v, { ...planner, connection: mode })
        if (mode === 'echo-success-fields') expect(res).toBeInstanceOf(Error)
      }
      // the protocol layer on its own, too
      const client = new TokenVaultClient(
        resolveAuth0Config(
          { domain: echoUrl, clientId: CLIENT_ID, clientSecret: SECRET.clientSecret, clientAuth },
          {},
        ),
        { maxRetries: 0, timeoutMs: 2_000 },
      )
      for (const mode of ECHO_MODES) {
        try {
          await client.exchange({
            subjectToken: SECRET.rtAlice,
            subjectTokenType: 'refresh_token',
            connection: mode,
            scopes: ['repo:read'],
          })
        } catch (err) {
          scanner.error(`client ${clientAuth} ${mode}`, err)
        }
      }
      scanner.value(`config ${clientAuth}`, client.config)
    }
  })

  it('the CLI on the stores this run produced', async () => {
    const file = join(dir, 'constitution.yaml')
    writeFileSync(file, YAML)
    const runs: string[][] = [
      ['validate', file],
      ['validate', file, '--json'],
      [
        'check',
        file,
        '--agent',
        'planner',
        '--role',
        'EXECUTIVE',
        '--connection',
        'github',
        '--scopes',
        'repo:read',
      ],
      [
        'check',
        file,
        '--agent',
        'planner',
        '--role',
        'EXECUTIVE',
        '--connection',
        'github',
        '--scopes',
        'repo:write',
        '--json',
      ],
    ]
    for (const url of storeUrls.slice(1)) {
      runs.push(['audit', 'verify', url], ['audit', 'verify', url, '--json'])
      runs.push(['audit', 'query', url], ['audit', 'query', url, '--json'])
      runs.push(['audit', 'query', url, '--outcome', 'error', '--json'])
      runs.push(['audit', 'tail', url, '-n', '50'])
    }
    for (const argv of runs) {
      let stdout = ''
      let stderr = ''
      const code = await runCli(argv, {
        stdout: (t) => {
          stdout += t
        },
        stderr: (t) => {
          stderr += t
        },
        env: {},
        cwd: dir,
      })
      expect(code, argv.join(' ')).toBeLessThan(2)
      expect(stdout.length, argv.join(' ')).toBeGreaterThan(0)
      scanner.text(`cli ${argv.join(' ')} stdout`, stdout).text(`cli ${argv.join(' ')} stderr`, stderr)
    }
  })

  it('the demo, in-process and through the CLI', async () => {
    const lines: string[] = []
    const report = await runDemo({
      audit: `jsonl:${join(dir, 'demo.jsonl')}`,
      progress: (l) => lines.push(l),
    })
    expect(report.ok).toBe(true)
    scanner.text('demo progress', lines.join('\n')).value('demo report', report)
    scanner.file('demo jsonl', join(dir, 'demo.jsonl'))
    let stdout = ''
    let stderr = ''
    const code = await runCli(['demo', '--audit', join(dir, 'demo.db')], {
      stdout: (t) => {
        stdout += t
      },
      stderr: (t) => {
        stderr += t
      },
      env: {},
      cwd: dir,
    })
    expect(code).toBe(0)
    scanner.text('demo cli stdout', stdout).text('demo cli stderr', stderr)
    for (const suffix of ['', '-wal', '-shm']) scanner.file(`demo db${suffix}`, join(dir, `demo.db${suffix}`))
  })

  it('finds no secret in anything the run produced', async () => {
    // the audit stores: entries as read back, and the bytes on disk (SQLite with its WAL)
    for (const [i, log] of stores.entries()) {
      const entries = await log.query()
      expect(entries.length).toBeGreaterThan(40)
      expect((await log.verify()).ok).toBe(true)
      scanner.value(`audit ${storeUrls[i]} entries`, entries)
    }
    scanner.file('audit.jsonl', join(dir, 'audit.jsonl'))
    for (const suffix of ['', '-wal', '-shm'])
      scanner.file(`audit.db${suffix}`, join(dir, `audit.db${suffix}`))
    scanner.text('process stdout/stderr', written.join(''))
    scanner.value('emulator requests (final)', emulator.requests)

    expect(released.length).toBeGreaterThan(5)
    const hits = scanner.scan()
    console.info(
      `canaries: ${scanner.canaryCount} secret values + ${scanner.patternCount} secret patterns; ` +
        `${scanner.artifacts.length} artifacts scanned (${scanner.artifacts.reduce((n, a) => n + a.text.length, 0)} chars); ` +
        `tokens released: ${released.length}; hits: ${hits.length}`,
    )
    expect(hits).toEqual([])
  })
})
