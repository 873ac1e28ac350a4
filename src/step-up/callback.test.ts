import { describe, expect, it } from 'vitest'
import { CallbackApprover } from './callback.js'
import type { StepUpRequest } from './types.js'

const req: StepUpRequest = {
  id: 'su_1',
  agentId: 'builder',
  role: 'IMPLEMENTER',
  connection: 'github',
  scopes: ['repo:write'],
  bindingMessage: 'builder asks github: repo:write',
  expiresAt: 10_000,
}

describe('CallbackApprover', () => {
  it('turns a boolean into a decision by the configured identity', async () => {
    const yes = new CallbackApprover(() => true, {
      identity: { id: 'lead', role: 'JUDICIAL' },
      now: () => 42,
    })
    expect(await yes.requestApproval(req)).toEqual({
      approved: true,
      approver: { id: 'lead', role: 'JUDICIAL' },
      decidedAt: 42,
    })
    const no = new CallbackApprover(async () => false, { now: () => 7 })
    expect(await no.requestApproval(req)).toEqual({
      approved: false,
      approver: { id: 'callback' },
      decidedAt: 7,
    })
  })

  it('passes a full decision through and hands the request and signal to the function', async () => {
    let seen: StepUpRequest | undefined
    let sawSignal = false
    const ac = new AbortController()
    const approver = new CallbackApprover((r, o) => {
      seen = r
      sawSignal = o.signal === ac.signal
      return { approved: false, approver: { id: 'bob' }, reason: 'not today', decidedAt: 5 }
    })
    expect(await approver.requestApproval(req, { signal: ac.signal })).toEqual({
      approved: false,
      approver: { id: 'bob' },
      reason: 'not today',
      decidedAt: 5,
    })
    expect(seen).toBe(req)
    expect(sawSignal).toBe(true)
    expect(approver.kind).toBe('maci')
  })

  it('stops waiting when the signal aborts', async () => {
    const ac = new AbortController()
    const approver = new CallbackApprover(() => new Promise<boolean>(() => {}))
    const p = approver.requestApproval(req, { signal: ac.signal })
    ac.abort(new Error('timeout'))
    await expect(p).rejects.toThrow('timeout')
  })

  it('refuses an answer that is not a decision', async () => {
    const approver = new CallbackApprover(() => ({ approved: 'yes' }) as never)
    await expect(approver.requestApproval(req)).rejects.toThrow(TypeError)
    expect(() => new CallbackApprover('x' as never)).toThrow(TypeError)
  })
})
