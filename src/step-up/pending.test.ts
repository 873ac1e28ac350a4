import { afterEach, describe, expect, it, vi } from 'vitest'
import { PendingApprovals, type PendingStepUp, type PendingStepUpDecided } from './pending.js'
import type { StepUpRequest } from './types.js'

const req = (id: string, expiresAt = 60_000): StepUpRequest => ({
  id,
  agentId: 'builder',
  role: 'IMPLEMENTER',
  connection: 'github',
  scopes: ['repo:write'],
  bindingMessage: 'builder asks github: repo:write',
  expiresAt,
})

afterEach(() => {
  vi.useRealTimers()
})

describe('PendingApprovals', () => {
  it('queues a request, emits requested, and resolves on approve', async () => {
    const q = new PendingApprovals({ now: () => 1_000 })
    const requested: PendingStepUp[] = []
    const decided: PendingStepUpDecided[] = []
    q.on('requested', (p) => requested.push(p)).on('decided', (d) => decided.push(d))
    const p = q.requestApproval(req('a'))
    expect(q.list()).toEqual([{ id: 'a', request: req('a'), createdAt: 1_000 }])
    expect(requested.map((r) => r.id)).toEqual(['a'])
    q.approve('a', { id: 'alice', role: 'JUDICIAL' })
    expect(await p).toEqual({ approved: true, approver: { id: 'alice', role: 'JUDICIAL' }, decidedAt: 1_000 })
    expect(q.list()).toEqual([])
    expect(decided).toHaveLength(1)
    expect(decided[0]?.decision.approved).toBe(true)
  })

  it('resolves a denial with its reason and refuses to decide twice', async () => {
    const q = new PendingApprovals({ now: () => 5 })
    const p = q.requestApproval(req('b'))
    q.deny('b', { id: 'carol' }, 'too broad')
    expect(await p).toEqual({ approved: false, approver: { id: 'carol' }, reason: 'too broad', decidedAt: 5 })
    expect(() => q.approve('b', { id: 'carol' })).toThrow(/no step-up/)
    expect(() => q.deny('nope', { id: 'carol' })).toThrow(/no step-up/)
  })

  it('refuses a malformed approver identity and keeps the request waiting', async () => {
    const q = new PendingApprovals()
    const p = q.requestApproval(req('c'))
    expect(() => q.approve('c', { id: '' })).toThrow(TypeError)
    expect(q.list()).toHaveLength(1)
    q.approve('c', { id: 'dave' })
    expect((await p).approved).toBe(true)
  })

  it('expires a request at expiresAt and removes it', async () => {
    vi.useFakeTimers({ now: 0 })
    const q = new PendingApprovals()
    const decided: PendingStepUpDecided[] = []
    q.on('decided', (d) => decided.push(d))
    const p = q.requestApproval(req('d', 30_000))
    await vi.advanceTimersByTimeAsync(29_999)
    expect(q.list()).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    const decision = await p
    expect(decision.approved).toBe(false)
    expect(decision.expired).toBe(true)
    expect(q.list()).toEqual([])
    expect(decided[0]?.decision.expired).toBe(true)
  })

  it('removes a request when the caller aborts', async () => {
    const q = new PendingApprovals()
    const cancelled: string[] = []
    q.on('cancelled', (c) => cancelled.push(c.id))
    const ac = new AbortController()
    const p = q.requestApproval(req('e'), { signal: ac.signal })
    ac.abort(new Error('gave up'))
    await expect(p).rejects.toThrow('gave up')
    expect(q.list()).toEqual([])
    expect(cancelled).toEqual(['e'])
    expect(() => q.approve('e', { id: 'x' })).toThrow(/no step-up/)
  })
})
