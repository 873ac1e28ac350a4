import { describe, expect, it } from 'vitest'
import { cacheKeyOf, hashSubject, SubjectHashes, TokenCache, tokenCacheKey } from './token-cache.js'

interface V {
  expiresAt: number
  n: number
}

const base = {
  subjectTokenType: 'refresh_token' as const,
  subjectToken: 'rt_alice',
  connection: 'github',
  scopes: ['a', 'b'],
}

describe('tokenCacheKey', () => {
  it('ignores scope order and duplicates but separates every other part', () => {
    const k = tokenCacheKey(base).key
    expect(tokenCacheKey({ ...base, scopes: ['b', 'a', 'a'] }).key).toBe(k)
    expect(tokenCacheKey({ ...base, subjectToken: 'rt_bob' }).key).not.toBe(k)
    expect(tokenCacheKey({ ...base, subjectTokenType: 'access_token' }).key).not.toBe(k)
    expect(tokenCacheKey({ ...base, connection: 'slack' }).key).not.toBe(k)
    expect(tokenCacheKey({ ...base, loginHint: 'x' }).key).not.toBe(k)
    expect(tokenCacheKey({ ...base, scopes: ['a'] }).key).not.toBe(k)
    expect(tokenCacheKey({ ...base, scopes: ['a b'] }).key).not.toBe(
      tokenCacheKey({ ...base, scopes: ['a', 'b'] }).key,
    )
  })

  it('keeps parts apart whatever characters they hold', () => {
    const h = hashSubject('refresh_token', 'rt_alice')
    const keys = [
      cacheKeyOf(h, 'github', undefined, ['a']),
      cacheKeyOf(h, 'github', '', ['a']),
      cacheKeyOf(h, 'github', '-', ['a']),
      cacheKeyOf(h, 'github|1:a', undefined, []),
      cacheKeyOf(h, 'github', '1:a', []),
      cacheKeyOf(h, 'github', undefined, ['a|1:b']),
      cacheKeyOf(h, 'github', undefined, ['a', 'b']),
      cacheKeyOf(h, 'git', undefined, ['hub', 'a']),
    ].map((k) => k.key)
    expect(new Set(keys).size).toBe(keys.length)
    // sorted input is used as is, unsorted or repeated input is normalized to the same key
    expect(cacheKeyOf(h, 'c', undefined, ['b', 'a', 'b']).key).toBe(
      cacheKeyOf(h, 'c', undefined, ['a', 'b']).key,
    )
  })

  it('never holds the subject token itself', () => {
    const key = tokenCacheKey(base)
    expect(JSON.stringify(key)).not.toContain('rt_alice')
    expect(key.subjectHash).toBe(hashSubject('refresh_token', 'rt_alice'))
  })
})

describe('TokenCache', () => {
  it('reuses a live value until expiresAt minus skew', async () => {
    let now = 0
    const cache = new TokenCache<V>({ skewMs: 60_000, now: () => now })
    const key = tokenCacheKey(base)
    let loads = 0
    const load = async () => ({ expiresAt: 3_600_000, n: ++loads })
    expect((await cache.getOrLoad(key, load)).source).toBe('loaded')
    now = 3_539_999
    expect(await cache.getOrLoad(key, load)).toEqual({ value: { expiresAt: 3_600_000, n: 1 }, source: 'hit' })
    now = 3_540_000
    expect((await cache.getOrLoad(key, load)).source).toBe('loaded')
    expect(loads).toBe(2)
  })

  it('does not store a value that is already inside the skew', async () => {
    const cache = new TokenCache<V>({ skewMs: 60_000, now: () => 0 })
    await cache.getOrLoad(tokenCacheKey(base), async () => ({ expiresAt: 30_000, n: 1 }))
    expect(cache.size).toBe(0)
  })

  it('shares one load between concurrent misses and does not remember a failure', async () => {
    const cache = new TokenCache<V>({ now: () => 0 })
    const key = tokenCacheKey(base)
    let calls = 0
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const failing = async () => {
      calls++
      await gate
      throw new Error('upstream down')
    }
    const all = Promise.allSettled(Array.from({ length: 50 }, () => cache.getOrLoad(key, failing)))
    release()
    const results = await all
    expect(calls).toBe(1)
    expect(results.every((r) => r.status === 'rejected')).toBe(true)
    const ok = await cache.getOrLoad(key, async () => ({ expiresAt: 3_600_000, n: 7 }))
    expect(ok).toEqual({ value: { expiresAt: 3_600_000, n: 7 }, source: 'loaded' })
    const shared = await Promise.all(
      Array.from({ length: 3 }, () =>
        cache.getOrLoad(tokenCacheKey({ ...base, scopes: ['z'] }), async () => ({
          expiresAt: 3_600_000,
          n: ++calls,
        })),
      ),
    )
    expect(shared.map((s) => s.source)).toEqual(['loaded', 'shared', 'shared'])
    expect(new Set(shared.map((s) => s.value.n)).size).toBe(1)
  })

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = new TokenCache<V>({ maxEntries: 2, now: () => 0 })
    const k = (c: string) => tokenCacheKey({ ...base, connection: c })
    const v = async () => ({ expiresAt: 3_600_000, n: 0 })
    await cache.getOrLoad(k('a'), v)
    await cache.getOrLoad(k('b'), v)
    expect(cache.get(k('a'))).toBeDefined() // a is now most recent
    await cache.getOrLoad(k('c'), v)
    expect(cache.size).toBe(2)
    expect(cache.get(k('b'))).toBeUndefined()
    expect(cache.get(k('a'))).toBeDefined()
    expect(cache.get(k('c'))).toBeDefined()
  })

  it('invalidates by subject, connection and login hint, including loads in flight', async () => {
    const cache = new TokenCache<V>({ now: () => 0 })
    const v = async () => ({ expiresAt: 3_600_000, n: 0 })
    await cache.getOrLoad(tokenCacheKey(base), v)
    await cache.getOrLoad(tokenCacheKey({ ...base, connection: 'slack' }), v)
    await cache.getOrLoad(tokenCacheKey({ ...base, subjectToken: 'rt_bob', loginHint: 'h' }), v)
    expect(cache.invalidate({ connection: 'slack' })).toBe(1)
    expect(cache.invalidate({ loginHint: 'h' })).toBe(1)
    expect(cache.invalidate({ subjectHash: hashSubject('refresh_token', 'rt_alice') })).toBe(1)
    expect(cache.size).toBe(0)

    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const inFlight = cache.getOrLoad(tokenCacheKey(base), async () => {
      await gate
      return { expiresAt: 3_600_000, n: 1 }
    })
    cache.invalidate({})
    release()
    await inFlight
    expect(cache.size).toBe(0)
  })

  it('lets one waiter abort without failing the shared load for the others', async () => {
    const cache = new TokenCache<V>({ now: () => 0 })
    const key = tokenCacheKey(base)
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    const load = async () => {
      await gate
      return { expiresAt: 3_600_000, n: 1 }
    }
    const ac = new AbortController()
    const a = cache.getOrLoad(key, load, ac.signal)
    const b = cache.getOrLoad(key, load)
    ac.abort(new Error('caller gave up'))
    await expect(a).rejects.toThrow('caller gave up')
    release()
    expect((await b).value.n).toBe(1)
  })
})

describe('SubjectHashes', () => {
  it('answers exactly hashSubject, per token type, and stays bounded', () => {
    const memo = new SubjectHashes(2)
    expect(memo.hash('refresh_token', 'rt_alice')).toBe(hashSubject('refresh_token', 'rt_alice'))
    expect(memo.hash('access_token', 'rt_alice')).toBe(hashSubject('access_token', 'rt_alice'))
    expect(memo.hash('refresh_token', 'rt_alice')).not.toBe(memo.hash('access_token', 'rt_alice'))
    for (const t of ['rt_bob', 'rt_carol', 'rt_dave', 'rt_alice']) {
      expect(memo.hash('refresh_token', t)).toBe(hashSubject('refresh_token', t))
    }
    memo.delete('refresh_token', 'rt_alice')
    expect(memo.hash('refresh_token', 'rt_alice')).toBe(hashSubject('refresh_token', 'rt_alice'))
    memo.clear()
    expect(memo.hash('refresh_token', 'rt_bob')).toBe(hashSubject('refresh_token', 'rt_bob'))
  })
})

describe('TokenCache LRU order', () => {
  it('keeps exact LRU order when the newest entry is hit again or dropped', async () => {
    const cache = new TokenCache<V>({ maxEntries: 2, now: () => 0 })
    const k = (c: string) => tokenCacheKey({ ...base, connection: c })
    const v = async () => ({ expiresAt: 3_600_000, n: 0 })
    await cache.getOrLoad(k('a'), v)
    await cache.getOrLoad(k('b'), v)
    expect(cache.get(k('b'))).toBeDefined() // already the newest: order unchanged
    expect(cache.get(k('a'))).toBeDefined() // a becomes the newest
    expect(cache.get(k('a'))).toBeDefined()
    await cache.getOrLoad(k('c'), v) // evicts b
    expect(cache.get(k('b'))).toBeUndefined()
    expect(cache.invalidate({ connection: 'c' })).toBe(1) // drops the newest
    await cache.getOrLoad(k('d'), v)
    expect(cache.size).toBe(2)
    expect(cache.get(k('a'))).toBeDefined()
    await cache.getOrLoad(k('e'), v) // evicts d, the least recently used
    expect(cache.get(k('d'))).toBeUndefined()
    expect(cache.get(k('a'))).toBeDefined()
    expect(cache.get(k('e'))).toBeDefined()
  })
})
