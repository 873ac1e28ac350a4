/**
 * MACI safety properties, checked with fast-check over random constitutions, agents, requests,
 * upstream answers and approval sequences, through the real vault (the upstream is an injected
 * `fetch` answering like Token Vault, so thousands of exchanges run in seconds):
 *
 * 1. no agent ever obtains a scope outside its role's permitted set, whatever it asks for and
 *    whatever Auth0 returns (extra scopes included), and a high-risk scope only with an approval;
 * 2. with `agents:` present an agent acts only in the roles assigned to it;
 * 3. no sequence of approvals (the requester itself, other agents, any role, replayed step-up
 *    ids, resumes with other scopes or roles) releases a high-risk scope without a valid approval.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CallbackApprover,
  ConstitutionalTokenVault,
  ConstitutionError,
  MACIScopePolicy,
  PendingApprovals,
  StepUpAuthRequiredError,
  TokenAuditLog,
  TokenVaultGovernanceError,
  type TokenVaultRequest,
  type TokenVaultResponse,
} from '../src/index.js'

if (process.env.FUZZ_SEED) fc.configureGlobal({ seed: Number(process.env.FUZZ_SEED) })

const ROLES = ['EXECUTIVE', 'IMPLEMENTER', 'MONITOR', 'AUDITOR', 'JUDICIAL'] as const
const SCOPES = ['a:read', 'a:write', 'b:read', 'b:write', 'admin', 'delete'] as const
const CONNECTIONS = ['github', 'slack'] as const
const AGENTS = ['ag1', 'ag2', 'ag3'] as const
const FEDERATED = 'http://auth0.com/oauth/token-type/federated-connection-access-token'
const RT = 'maci-refresh-token-0123456789'

interface Rule {
  permitted: string[]
  highRisk: string[]
}
interface PolicySpec {
  rules: Record<string, Record<string, Rule>>
  agents: Record<string, string[]> | undefined
  approvers: string[] | undefined
  excess: 'deny' | 'audit'
}

const subset = <T>(items: readonly T[]) => fc.subarray([...items])

const ruleArb: fc.Arbitrary<Rule> = subset(SCOPES).chain((permitted) =>
  subset(permitted).map((highRisk) => ({ permitted, highRisk })),
)

const policyArb: fc.Arbitrary<PolicySpec> = fc
  .record({
    rules: fc.record(
      Object.fromEntries(
        CONNECTIONS.map((c) => [
          c,
          fc.dictionary(fc.constantFrom(...ROLES.filter((r) => r !== 'JUDICIAL')), ruleArb, { maxKeys: 4 }),
        ]),
      ) as Record<(typeof CONNECTIONS)[number], fc.Arbitrary<Record<string, Rule>>>,
    ),
    approvers: fc.option(subset(ROLES), { nil: undefined }),
    agentRoles: fc.option(fc.tuple(subset(ROLES), subset(ROLES), subset(ROLES)), { nil: undefined }),
    excess: fc.constantFrom('deny' as const, 'audit' as const),
  })
  .map(({ rules, approvers, agentRoles, excess }) => {
    // an agent may be bound only to roles the constitution defines
    const defined = new Set<string>([
      ...Object.values(rules).flatMap((r) => Object.keys(r)),
      ...(approvers ?? []),
    ])
    const agents = agentRoles
      ? Object.fromEntries(AGENTS.map((a, i) => [a, agentRoles[i]!.filter((r) => defined.has(r))]))
      : undefined
    return { rules, agents, approvers, excess }
  })

function build(spec: PolicySpec): MACIScopePolicy | undefined {
  const connections: Record<string, Record<string, unknown>> = {}
  for (const [c, roles] of Object.entries(spec.rules)) {
    if (Object.keys(roles).length === 0) continue
    connections[c] = Object.fromEntries(
      Object.entries(roles).map(([role, r]) => [
        role,
        { permitted_scopes: r.permitted, high_risk_scopes: r.highRisk },
      ]),
    )
  }
  const tv: Record<string, unknown> = {
    constitutional_hash: '608508a9bd224290',
    excess_scopes: spec.excess,
    connections,
  }
  if (spec.agents) tv.agents = spec.agents
  if (spec.approvers) tv.step_up = { approvers: spec.approvers }
  try {
    return MACIScopePolicy.fromObject({ token_vault: tv })
  } catch (err) {
    if (err instanceof ConstitutionError) return undefined
    throw err
  }
}

/** What the injected Token Vault returns for a request: the asked scopes, more, fewer, or none. */
type UpstreamMode = { kind: 'as-asked' } | { kind: 'omit-scope' } | { kind: 'extra'; extra: string[] }

const upstreamArb: fc.Arbitrary<UpstreamMode> = fc.oneof(
  fc.constant({ kind: 'as-asked' as const }),
  fc.constant({ kind: 'omit-scope' as const }),
  fc
    .subarray([...SCOPES, 'repo', 'openid', 'offline_access'], { minLength: 1 })
    .map((extra) => ({ kind: 'extra' as const, extra })),
)

function tokenVaultFetch(mode: () => UpstreamMode, calls: { n: number }): typeof fetch {
  let serial = 0
  return (async (_input: unknown, init?: RequestInit) => {
    calls.n++
    const form = new URLSearchParams(
      init?.body instanceof URLSearchParams ? init.body.toString() : String(init?.body ?? ''),
    )
    const asked = (form.get('scope') ?? '').split(' ').filter(Boolean)
    const m = mode()
    const body: Record<string, unknown> = {
      access_token: `maci-at-${serial++}`,
      token_type: 'Bearer',
      expires_in: 3600,
      issued_token_type: FEDERATED,
    }
    if (m.kind === 'as-asked') body.scope = asked.join(' ')
    if (m.kind === 'extra') body.scope = [...new Set([...asked, ...m.extra])].join(' ')
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    })
  }) as typeof fetch
}

const requestArb: fc.Arbitrary<{ agentId: string; role: string; connection: string; scopes: string[] }> =
  fc.record({
    agentId: fc.constantFrom<string>(...AGENTS),
    role: fc.constantFrom<string>(...ROLES, 'executive', 'ROOT'),
    connection: fc.constantFrom<string>(...CONNECTIONS, 'gitlab'),
    scopes: fc.array(fc.constantFrom<string>(...SCOPES, 'repo', 'a:read '), { minLength: 0, maxLength: 4 }),
  })

const identityArb = fc.oneof(
  fc.record({
    id: fc.constantFrom(...AGENTS, 'person-1', 'person-2'),
    role: fc.option(fc.constantFrom(...ROLES, 'ROOT'), { nil: undefined }),
  }),
  fc.record({
    id: fc.constantFrom('person-1', 'person-2'),
    role: fc.constant<string | undefined>('JUDICIAL'),
  }),
)

type Req = { agentId: string; role: string; connection: string; scopes: string[] }

/** Requests the constitution may well permit (a permitted rule, an assigned agent), sometimes spoiled. */
function guidedRequestArb(spec: PolicySpec): fc.Arbitrary<Req> {
  const rules = Object.entries(spec.rules).flatMap(([connection, roles]) =>
    Object.entries(roles)
      .filter(([, r]) => r.permitted.length > 0)
      .map(([role, r]) => ({ connection, role, rule: r })),
  )
  if (rules.length === 0) return requestArb
  return fc
    .tuple(
      fc.constantFrom(...rules),
      fc.constantFrom(...AGENTS),
      fc.constantFrom(...SCOPES, 'repo'),
      fc.nat(9),
    )
    .chain(([{ connection, role, rule }, anyAgent, stray, spoil]) =>
      fc.subarray(rule.permitted, { minLength: 1 }).map((scopes) => {
        const assigned = spec.agents ? AGENTS.filter((a) => spec.agents![a]?.includes(role)) : [...AGENTS]
        const agentId = spoil === 0 || assigned.length === 0 ? anyAgent : assigned[spoil % assigned.length]!
        return { agentId, role, connection, scopes: spoil === 1 ? [...scopes, stray] : scopes }
      }),
    )
}

function vaultFor(
  policy: MACIScopePolicy,
  extra: Partial<ConstructorParameters<typeof ConstitutionalTokenVault>[0]>,
) {
  return new ConstitutionalTokenVault({
    policy,
    env: {},
    auth0: { domain: 'http://127.0.0.1:9', clientId: 'maci', clientSecret: 'maci-secret-0123456789' },
    cache: false,
    client: { maxRetries: 0, timeoutMs: 1_000 },
    ...extra,
  })
}

describe('MACI properties', () => {
  it('an agent never obtains a scope outside its role, nor a role it was not assigned, nor an unapproved high-risk scope', async () => {
    let released = 0
    let refused = 0
    await fc.assert(
      fc.asyncProperty(
        policyArb.chain((spec) =>
          fc.tuple(
            fc.constant(spec),
            fc.array(
              fc.tuple(
                fc.oneof(guidedRequestArb(spec), guidedRequestArb(spec), requestArb),
                upstreamArb,
                identityArb,
              ),
              { minLength: 1, maxLength: 8 },
            ),
          ),
        ),
        async ([spec, steps]) => {
          const policy = build(spec)
          fc.pre(policy !== undefined)
          const audit = await TokenAuditLog.open('memory:')
          let mode: UpstreamMode = { kind: 'as-asked' }
          let identity = { id: 'person-1', role: undefined as string | undefined }
          const decisions: { id: string; agentId: string; valid: boolean }[] = []
          const approver = new CallbackApprover((req) => {
            const valid = identity.id !== req.agentId && policy!.isApproverRole(identity.role)
            decisions.push({ id: req.id, agentId: req.agentId, valid })
            return { approved: true, approver: { ...identity }, decidedAt: Date.now() }
          })
          const calls = { n: 0 }
          let releasedHere = 0
          const vault = vaultFor(policy!, {
            audit,
            fetch: tokenVaultFetch(() => mode, calls),
            stepUp: { approver },
          })
          for (const [request, upstream, who] of steps) {
            mode = upstream
            identity = who
            const rule = policy!.getRule(request.connection, request.role)
            const callsBefore = calls.n
            let res: TokenVaultResponse
            try {
              res = await vault.exchange({ ...request, refreshToken: RT })
            } catch (err) {
              refused++
              expect(err).toBeInstanceOf(TokenVaultGovernanceError)
              continue
            }
            released++
            releasedHere++
            // the role was assigned, the rule exists, every requested scope is permitted
            if (spec.agents) expect(spec.agents[request.agentId]).toContain(request.role)
            expect(rule).toBeDefined()
            for (const s of request.scopes) expect(rule!.permittedScopes).toContain(s)
            expect(calls.n).toBe(callsBefore + 1)
            // what came back: outside the role only with excess_scopes: audit, and then reported
            const outside = res.scope.filter(
              (s) =>
                !rule!.permittedScopes.includes(s) ||
                (rule!.highRiskScopes.includes(s) && !(res.stepUpId && request.scopes.includes(s))),
            )
            if (spec.excess === 'deny') expect(outside).toEqual([])
            else expect([...(res.excessScopes ?? [])].sort()).toEqual([...outside].sort())
            // a requested high-risk scope was released only with a valid approval of this very request
            const highRisk = request.scopes.filter((s) => rule!.highRiskScopes.includes(s))
            if (highRisk.length > 0) {
              const decision = decisions.find((d) => d.id === res.stepUpId)
              expect(decision).toBeDefined()
              expect(decision!.valid).toBe(true)
              expect(decision!.agentId).toBe(request.agentId)
            }
          }
          const entries = await audit.query()
          expect(entries.filter((e) => e.outcome === 'granted')).toHaveLength(releasedHere)
          expect((await audit.verify()).ok).toBe(true)
          await audit.close()
        },
      ),
      { numRuns: 150 },
    )
    console.info(`maci containment: ${released} releases, ${refused} refusals`)
    expect(released).toBeGreaterThan(50)
    expect(refused).toBeGreaterThan(50)
  }, 120_000)

  it('no sequence of approvals, replays and resumes lets an agent approve its own step-up', async () => {
    type Action =
      | { kind: 'start'; request: number }
      | { kind: 'approve'; target: number; who: { id: string; role: string | undefined } }
      | { kind: 'deny'; target: number; who: { id: string; role: string | undefined } }
      | { kind: 'resume'; target: number; request: number }
    const actionArb: fc.Arbitrary<Action> = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), request: fc.nat() }),
      fc.record({ kind: fc.constant('approve' as const), target: fc.nat(), who: identityArb }),
      fc.record({ kind: fc.constant('approve' as const), target: fc.nat(), who: identityArb }),
      fc.record({ kind: fc.constant('deny' as const), target: fc.nat(), who: identityArb }),
      fc.record({ kind: fc.constant('resume' as const), target: fc.nat(), request: fc.nat() }),
      fc.record({ kind: fc.constant('resume' as const), target: fc.nat(), request: fc.constant(-1) }),
      fc.record({ kind: fc.constant('resume' as const), target: fc.nat(), request: fc.constant(-1) }),
    )
    // one fixed constitution with high-risk scopes for several agents and roles
    const policy = MACIScopePolicy.fromObject({
      token_vault: {
        constitutional_hash: '608508a9bd224290',
        agents: { ag1: ['IMPLEMENTER'], ag2: ['IMPLEMENTER', 'EXECUTIVE'], ag3: ['JUDICIAL', 'EXECUTIVE'] },
        step_up: { approvers: ['JUDICIAL'] },
        connections: {
          github: {
            IMPLEMENTER: {
              permitted_scopes: ['a:read', 'a:write', 'delete'],
              high_risk_scopes: ['a:write', 'delete'],
            },
            EXECUTIVE: { permitted_scopes: ['a:read', 'a:write'], high_risk_scopes: ['a:write'] },
          },
        },
      },
    })
    const requests: TokenVaultRequest[] = [
      { agentId: 'ag1', role: 'IMPLEMENTER', connection: 'github', scopes: ['a:write'] },
      { agentId: 'ag1', role: 'IMPLEMENTER', connection: 'github', scopes: ['delete'] },
      { agentId: 'ag1', role: 'IMPLEMENTER', connection: 'github', scopes: ['a:write', 'delete'] },
      { agentId: 'ag2', role: 'IMPLEMENTER', connection: 'github', scopes: ['a:write'] },
      { agentId: 'ag2', role: 'EXECUTIVE', connection: 'github', scopes: ['a:write'] },
      { agentId: 'ag3', role: 'EXECUTIVE', connection: 'github', scopes: ['a:write'] },
    ].map((r) => ({ ...r, refreshToken: RT }))
    let releases = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionArb, { minLength: 1, maxLength: 40 }),
        upstreamArb,
        async (actions, upstream) => {
          const approvals = new PendingApprovals()
          const calls = { n: 0 }
          const vault = vaultFor(policy, {
            fetch: tokenVaultFetch(() => upstream, calls),
            stepUp: { approver: approvals, mode: 'interrupt' },
          })
          // the model: every step-up started, who asked, and the decisions given
          const started: { id: string; request: TokenVaultRequest }[] = []
          const validApproval = new Map<string, boolean>()
          const used = new Set<string>()
          for (const action of actions) {
            if (action.kind === 'start') {
              const request = requests[action.request % requests.length]!
              try {
                await vault.exchange(request)
                expect.unreachable('a high-risk request must not be released without a step-up')
              } catch (err) {
                expect(err).toBeInstanceOf(StepUpAuthRequiredError)
                started.push({ id: (err as StepUpAuthRequiredError).stepUpId, request })
              }
              continue
            }
            const target = started.length ? started[action.target % started.length] : undefined
            const id = target?.id ?? `unknown-${action.target}`
            if (action.kind === 'approve' || action.kind === 'deny') {
              try {
                if (action.kind === 'approve') approvals.approve(id, action.who)
                else approvals.deny(id, action.who, 'no')
              } catch {
                continue // no such step-up waiting: nothing was decided
              }
              if (!validApproval.has(id)) {
                validApproval.set(
                  id,
                  action.kind === 'approve' &&
                    action.who.id !== target?.request.agentId &&
                    policy.isApproverRole(action.who.role),
                )
              }
              continue
            }
            // resume, with the step-up's own request (-1) or any other agent, role or scope set
            const request =
              action.request < 0 && target
                ? target.request
                : requests[Math.abs(action.request) % requests.length]!
            try {
              const res = await vault.exchange({ ...request, stepUpId: id })
              releases++
              expect(res.stepUpId).toBe(id)
              expect(target).toBeDefined()
              // the approval was valid, for exactly this request, and is used once
              expect(validApproval.get(id)).toBe(true)
              expect(target!.request).toEqual(request)
              expect(used.has(id)).toBe(false)
              used.add(id)
              expect(res.scope.every((s) => request.scopes.includes(s) || s === 'a:read')).toBe(true)
            } catch (err) {
              expect(err).toBeInstanceOf(TokenVaultGovernanceError)
            }
          }
        },
      ),
      { numRuns: 300 },
    )
    console.info(`maci approvals: ${releases} releases after a valid approval`)
    expect(releases).toBeGreaterThan(5)
  }, 120_000)
})
