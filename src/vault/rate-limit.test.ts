import { describe, expect, it } from 'vitest'
import { rateLimitKey, SlidingWindowRateLimiter } from './rate-limit.js'

describe('SlidingWindowRateLimiter', () => {
  it('allows max events per window and says when the next one is allowed', () => {
    let now = 1_000_000
    const rl = new SlidingWindowRateLimiter(() => now)
    const limit = { max: 3, perSeconds: 10 }
    expect(rl.take('k', limit)).toEqual({ allowed: true })
    now += 2_000
    expect(rl.take('k', limit)).toEqual({ allowed: true })
    expect(rl.take('k', limit)).toEqual({ allowed: true })
    expect(rl.take('k', limit)).toEqual({ allowed: false, retryAfterMs: 8_000 })
    now += 7_999
    expect(rl.take('k', limit).allowed).toBe(false)
    now += 1
    expect(rl.take('k', limit)).toEqual({ allowed: true })
    expect(rl.take('k', limit)).toEqual({ allowed: false, retryAfterMs: 2_000 })
  })

  it('has no burst at a window edge (sliding, not fixed)', () => {
    let now = 0
    const rl = new SlidingWindowRateLimiter(() => now)
    const limit = { max: 2, perSeconds: 1 }
    now = 999
    rl.take('k', limit)
    rl.take('k', limit)
    now = 1_001
    expect(rl.take('k', limit).allowed).toBe(false)
  })

  it('keeps keys apart', () => {
    const rl = new SlidingWindowRateLimiter(() => 0)
    const limit = { max: 1, perSeconds: 60 }
    expect(rl.take(rateLimitKey('a', 'github', 'R'), limit).allowed).toBe(true)
    expect(rl.take(rateLimitKey('a', 'github', 'R'), limit).allowed).toBe(false)
    expect(rl.take(rateLimitKey('b', 'github', 'R'), limit).allowed).toBe(true)
    expect(rl.take(rateLimitKey('a', 'slack', 'R'), limit).allowed).toBe(true)
    expect(rl.take(rateLimitKey('a', 'github', 'S'), limit).allowed).toBe(true)
  })

  it('forgets keys whose window emptied', () => {
    let now = 0
    const rl = new SlidingWindowRateLimiter(() => now)
    for (let i = 0; i < 1023; i++) rl.take(`k${i}`, { max: 1, perSeconds: 1 })
    now = 5_000
    rl.take('last', { max: 1, perSeconds: 1 })
    expect(rl.size).toBe(1)
  })
})
