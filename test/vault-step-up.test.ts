import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  CallbackApprover,
  CibaApprover,
  ConstitutionalTokenVault,
  PendingApprovals,
  type StepUpAuthRequiredError,
  StepUpDeniedError,
  type StepUpRequest,
  StepUpAuthRequiredError as StepUpRequired,
} from '../src/index.js'
import {
  ALICE,
  CLIENT,
  expectNoSecrets,
  type Harness,
  harness,
  RT_ALICE,
  read,
  rejection,
  write,
} from './vault-fixtures.js'

let h: Harness | undefined
afterEach(async () => {
  vi.useRealTimers()
  await h?.close()
  h = undefined
})

const judge = { id: 'judge', role: 'JUDICIAL' }

describe('step-up without an approver', () => {
  it('throws StepUpAuthRequiredError after a step_up_initiated entry, and asks Auth0 nothing', async () => {
    h = await harness()
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpRequired)
    const e = err as StepUpAuthRequiredError
    expect(e.scopes).toEqual(['repo:write'])
    expect(e.connection).toBe('github')
    expect(e.bindingMessage).toBe('builder asks github: repo:write')
    expect(e.stepUpId).toMatch(/^[0-9a-f-]{36}$/)
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'step_up_initiated',
      stepUpScopes: ['repo:write'],
      stepUpId: e.stepUpId,
      agentId: 'builder',
    })
    expectNoSecrets(entries)
    expect(h.emulator.requests).toEqual([])
  })
})

describe('step-up in block mode', () => {
  it('approved by an allowed role: initiated → approved → granted, one release per approval', async () => {
    const seen: StepUpRequest[] = []
    const approver = new CallbackApprover((req) => {
      seen.push(req)
      return { approved: true, approver: judge, decidedAt: Date.now() }
    })
    h = await harness({ vault: { stepUp: { approver } } })
    const res = await h.vault.exchange({ ...write })
    expect(res.scope).toEqual(['repo:write'])
    expect(res.stepUpId).toBe(seen[0]?.id)
    expect(seen[0]).toMatchObject({
      agentId: 'builder',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
      userId: ALICE,
      toolName: 'push',
      bindingMessage: 'builder asks github: repo:write',
    })
    expect(seen[0]!.expiresAt - Date.now()).toBeGreaterThan(299_000)
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_approved', 'granted'])
    expect(entries[1]).toMatchObject({ approver: { id: 'judge', role: 'JUDICIAL' }, stepUpId: seen[0]?.id })
    expect(entries[2]).toMatchObject({
      approver: { id: 'judge', role: 'JUDICIAL' },
      stepUpScopes: ['repo:write'],
      cached: false,
    })
    expectNoSecrets(entries, [res.accessToken])
    // the next release of the same high-risk scope needs its own approval, even from the cache
    const again = await h.vault.exchange({ ...write })
    expect(again.cached).toBe(true)
    expect(seen).toHaveLength(2)
    expect(h.tokenRequests()).toHaveLength(1)
  })

  it('denied: StepUpDeniedError, step_up_denied, nothing sent to Auth0', async () => {
    const approver = new CallbackApprover(() => ({
      approved: false,
      approver: judge,
      reason: 'not during a freeze',
      decidedAt: Date.now(),
    }))
    h = await harness({ vault: { stepUp: { approver } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpDeniedError)
    expect((err as StepUpDeniedError).reason).toBe('denied')
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_denied'])
    expect(entries[1]).toMatchObject({ approver: judge, stepUpScopes: ['repo:write'] })
    expect(entries[1]?.reasons[0]?.message).toContain('not during a freeze')
    expectNoSecrets(entries)
    expect(h.emulator.requests).toEqual([])
  })

  it('expired: nobody decides within the timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const approvals = new PendingApprovals()
    h = await harness({ vault: { stepUp: { approver: approvals, timeoutMs: 30_000 } } })
    const p = rejection(h.vault.exchange({ ...write }))
    await vi.waitFor(() => expect(approvals.list()).toHaveLength(1))
    await vi.advanceTimersByTimeAsync(30_000)
    const err = await p
    expect(err).toBeInstanceOf(StepUpDeniedError)
    expect((err as StepUpDeniedError).reason).toBe('expired')
    expect(approvals.list()).toEqual([])
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_expired'])
    expect(h.emulator.requests).toEqual([])
  })

  it('an approval by the requesting agent itself is refused (self_approval)', async () => {
    const approver = new CallbackApprover(() => ({
      approved: true,
      approver: { id: 'builder', role: 'JUDICIAL' },
      decidedAt: Date.now(),
    }))
    h = await harness({ vault: { stepUp: { approver } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpDeniedError)
    expect((err as StepUpDeniedError).reason).toBe('self_approval')
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_denied'])
    expect(entries[1]).toMatchObject({ approver: { id: 'builder', role: 'JUDICIAL' } })
    expect(entries[1]?.reasons[0]?.code).toBe('self_approval')
    expect(h.emulator.requests).toEqual([])
  })

  it.each<[string, { id: string; role?: string }]>([
    ['a role outside step_up.approvers', { id: 'exec-1', role: 'EXECUTIVE' }],
    ['no role at all', { id: 'someone' }],
  ])('an approval by %s is refused (approver_role)', async (_name, who) => {
    const approver = new CallbackApprover(() => ({ approved: true, approver: who, decidedAt: Date.now() }))
    h = await harness({ vault: { stepUp: { approver } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect((err as StepUpDeniedError).reason).toBe('approver_role')
    const entries = await h.entries()
    expect(entries[1]).toMatchObject({
      outcome: 'step_up_denied',
      approver: { id: who.id, role: who.role ?? null },
    })
    expect(entries[1]?.reasons[0]?.code).toBe('approver_role')
    expect(h.emulator.requests).toEqual([])
  })

  it('an approver that fails is a refusal, audited as error', async () => {
    const approver = new CallbackApprover(() => {
      throw new Error('chat-ops bot is down')
    })
    h = await harness({ vault: { stepUp: { approver } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpDeniedError)
    expect((err as StepUpDeniedError).reason).toBe('approver_error')
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'error'])
    expect(h.emulator.requests).toEqual([])
  })
})

describe('step-up in interrupt mode (PendingApprovals)', () => {
  async function start(): Promise<{ approvals: PendingApprovals; id: string }> {
    const approvals = new PendingApprovals()
    h = await harness({ vault: { stepUp: { approver: approvals, mode: 'interrupt', timeoutMs: 60_000 } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpRequired)
    const id = (err as StepUpAuthRequiredError).stepUpId
    expect(approvals.list().map((p) => p.id)).toEqual([id])
    return { approvals, id }
  }

  it('throws at once, stays pending until decided, then resumes into a grant exactly once', async () => {
    const { approvals, id } = await start()
    const stillPending = await rejection(h!.vault.exchange({ ...write, stepUpId: id }))
    expect(stillPending).toBeInstanceOf(StepUpRequired)
    expect((stillPending as StepUpAuthRequiredError).stepUpId).toBe(id)
    expect(h!.emulator.requests).toEqual([])

    approvals.approve(id, judge)
    const res = await h!.vault.exchange({ ...write, stepUpId: id })
    expect(res.scope).toEqual(['repo:write'])
    expect(res.stepUpId).toBe(id)

    const reused = await rejection(h!.vault.exchange({ ...write, stepUpId: id }))
    expect(reused).toBeInstanceOf(StepUpDeniedError)
    expect((reused as StepUpDeniedError).reason).toBe('used')
    const entries = await h!.entries()
    expect(entries.map((e) => e.outcome)).toEqual([
      'step_up_initiated',
      'step_up_approved',
      'granted',
      'step_up_denied',
    ])
    expect(entries.every((e) => e.stepUpId === id)).toBe(true)
    expect(entries[3]?.reasons[0]?.code).toBe('step_up_used')
    expectNoSecrets(entries, [res.accessToken])
    expect(h!.tokenRequests()).toHaveLength(1)
  })

  it.each<[string, { scopes?: string[]; connection?: string; refreshToken?: string }]>([
    ['other scopes', { scopes: ['delete_repo'] }],
    ['more scopes', { scopes: ['repo:write', 'repo:read'] }],
    ['another connection', { connection: 'slack' }],
    ['another subject', { refreshToken: 'rt_someone_else_entirely_123' }],
  ])('an approval is not good for %s (mismatch)', async (_name, change) => {
    const { approvals, id } = await start()
    approvals.approve(id, judge)
    const err = await rejection(h!.vault.exchange({ ...write, ...change, stepUpId: id }))
    if (change.connection === 'slack') {
      // IMPLEMENTER has no rule on slack: the constitution refuses before the step-up is looked at
      expect(err.name).toBe('MACIRoleNotPermittedError')
    } else {
      expect(err).toBeInstanceOf(StepUpDeniedError)
      expect((err as StepUpDeniedError).reason).toBe('mismatch')
      const refusal = (await h!.entries()).find((e) => e.reasons[0]?.code === 'step_up_mismatch')
      expect(refusal).toMatchObject({ outcome: 'step_up_denied', stepUpId: id })
    }
    expect(h!.emulator.requests).toEqual([])
    // the approval is still good for exactly what it was asked for
    const res = await h!.vault.exchange({ ...write, stepUpId: id })
    expect(res.scope).toEqual(['repo:write'])
  })

  it('denied: the resume throws StepUpDeniedError', async () => {
    const { approvals, id } = await start()
    approvals.deny(id, judge, 'no')
    const err = await rejection(h!.vault.exchange({ ...write, stepUpId: id }))
    expect((err as StepUpDeniedError).reason).toBe('denied')
    const entries = await h!.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_denied'])
  })

  it('self-approval through the queue is refused', async () => {
    const { approvals, id } = await start()
    approvals.approve(id, { id: 'builder', role: 'JUDICIAL' })
    const err = await rejection(h!.vault.exchange({ ...write, stepUpId: id }))
    expect((err as StepUpDeniedError).reason).toBe('self_approval')
    expect(h!.emulator.requests).toEqual([])
  })

  it('expired: the resume throws StepUpDeniedError once the timeout passed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const { approvals, id } = await start()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(approvals.list()).toEqual([])
    const err = await rejection(h!.vault.exchange({ ...write, stepUpId: id }))
    expect((err as StepUpDeniedError).reason).toBe('expired')
    const entries = await h!.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_expired'])
  })

  it('an unknown stepUpId is refused and audited', async () => {
    await start()
    const err = await rejection(h!.vault.exchange({ ...write, stepUpId: 'not-a-step-up' }))
    expect((err as StepUpDeniedError).reason).toBe('unknown')
    const last = (await h!.entries()).at(-1)
    expect(last).toMatchObject({ outcome: 'step_up_denied', stepUpId: 'not-a-step-up' })
  })

  it('a stepUpId does nothing for a request that needs no step-up', async () => {
    const { id } = await start()
    const res = await h!.vault.exchange({ ...read, stepUpId: id })
    expect(res.scope).toEqual(['repo:read'])
  })
})

describe('step-up through Auth0 CIBA (emulator)', () => {
  /** Lets real I/O (loopback HTTP) progress while timers are fake. */
  const io = async (turns = 20) => {
    for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r))
  }
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 2_000 && !cond(); i++) await io(1)
    expect(cond()).toBe(true)
  }

  async function cibaVault(mode: 'block' | 'interrupt') {
    h = await harness({ emulator: { ciba: { interval: 1, expiresIn: 120 }, now: () => Date.now() } })
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    const approver = new CibaApprover({ auth0: { domain: h.emulator.url, ...CLIENT }, env: {} })
    expect(approver.kind).toBe('resource_owner')
    return new ConstitutionalTokenVault({
      policy: h.policy,
      audit: h.audit,
      env: {},
      auth0: { domain: h.emulator.url, ...CLIENT },
      stepUp: { approver, mode, timeoutMs: 120_000 },
    })
  }

  it('the resource owner approves on the emulator: granted, recorded with their sub (interrupt)', async () => {
    const vault = await cibaVault('interrupt')
    const err = await rejection(vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpRequired)
    const id = (err as StepUpAuthRequiredError).stepUpId
    await until(() => h!.emulator.pending().length === 1)
    const pending = h!.emulator.pending()[0]!
    expect(pending).toMatchObject({ userId: ALICE, bindingMessage: 'builder asks github: repo:write' })
    expect(JSON.stringify(pending.authorizationDetails)).toContain('repo:write')
    h!.emulator.approve(pending.authReqId)
    let res: Awaited<ReturnType<typeof vault.exchange>> | undefined
    for (let i = 0; i < 30 && !res; i++) {
      await vi.advanceTimersByTimeAsync(1_000)
      await io()
      try {
        res = await vault.exchange({ ...write, stepUpId: id })
      } catch (e) {
        if (!(e instanceof StepUpRequired)) throw e
      }
    }
    expect(res?.scope).toEqual(['repo:write'])
    const entries = await h!.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_approved', 'granted'])
    expect(entries[1]?.approver).toEqual({ id: ALICE, role: null })
    expectNoSecrets(entries, [res!.accessToken])
  })

  it('the resource owner denies on the emulator: StepUpDeniedError, no token exchange (block)', async () => {
    const vault = await cibaVault('block')
    const p = rejection(vault.exchange({ ...write }))
    await until(() => h!.emulator.pending().length === 1)
    h!.emulator.deny(h!.emulator.pending()[0]!.authReqId)
    for (let i = 0; i < 30 && (await h!.entries()).length < 2; i++) {
      await vi.advanceTimersByTimeAsync(1_000)
      await io()
    }
    const err = await p
    expect(err).toBeInstanceOf(StepUpDeniedError)
    expect((err as StepUpDeniedError).reason).toBe('denied')
    expect(h!.tokenRequests().filter((r) => r.grantType?.includes('federated'))).toEqual([])
    expect((await h!.entries()).map((e) => e.outcome)).toEqual(['step_up_initiated', 'step_up_denied'])
  })
})

describe("an approver's free-text reason", () => {
  it('is stored without a token it quotes (callback approver)', async () => {
    const approver = new CallbackApprover(() => ({
      approved: false,
      approver: judge,
      reason: `no, and here is the token ${RT_ALICE}`,
      decidedAt: Date.now(),
    }))
    h = await harness({ vault: { stepUp: { approver } } })
    const err = await rejection(h.vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(StepUpDeniedError)
    const entries = await h.entries()
    const denied = entries.find((e) => e.outcome === 'step_up_denied')
    expect(denied?.reasons[0]?.message).toContain('[REDACTED]')
    expect(JSON.stringify(entries)).not.toContain(RT_ALICE)
    expectNoSecrets(entries)
  })

  it('is stored without a token it quotes (pending queue)', async () => {
    const approvals = new PendingApprovals()
    h = await harness({ vault: { stepUp: { approver: approvals, mode: 'interrupt' } } })
    const err = (await rejection(h.vault.exchange({ ...write }))) as StepUpAuthRequiredError
    approvals.deny(err.stepUpId, judge, `token ${RT_ALICE}\u0000`)
    await rejection(h.vault.exchange({ ...write, stepUpId: err.stepUpId }))
    const entries = await h.entries()
    expect(JSON.stringify(entries)).not.toContain(RT_ALICE)
    expect(JSON.stringify(entries)).not.toContain('\\u0000')
  })
})
