/**
 * Retry, timeout and abort logic of TokenVaultClient with an injected fetch (no network), all on
 * fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { TokenVaultExchangeError } from '../errors.js'
import { resolveAuth0Config } from './config.js'
import { retryHintMs } from './http.js'
import { TokenVaultClient, type TokenVaultClientOptions } from './token-vault-client.js'

const config = resolveAuth0Config(
  { domain: 'tenant.auth0.com', clientId: 'cid', clientSecret: 'secret-abc' },
  {},
)
const PARAMS = {
  subjectToken: 'rt_x123',
  subjectTokenType: 'refresh_token',
  connection: 'github',
  scopes: ['a'],
} as const
const OK = { access_token: 'tok', token_type: 'Bearer', expires_in: 60, scope: 'a' }

function reply(status: number, body: unknown = {}, headers: Record<string, string> = {}) {
  return () =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json', ...headers },
      }),
    )
}

/** A fetch that never answers, but rejects like undici when its signal aborts. */
function hang(_url: unknown, init?: RequestInit): Promise<Response> {
  return new Promise((_resolve, reject) => {
    init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })
  })
}

function scripted(...steps: ((url: unknown, init?: RequestInit) => Promise<Response>)[]) {
  const calls: RequestInit[] = []
  const fetch = vi.fn((url: unknown, init?: RequestInit) => {
    calls.push(init ?? {})
    const step = steps.shift()
    if (!step) throw new Error('unexpected call')
    return step(url, init)
  })
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls }
}

function client(fetch: typeof globalThis.fetch, options: TokenVaultClientOptions = {}) {
  return new TokenVaultClient(config, { fetch, random: () => 1 - Number.EPSILON, ...options })
}

async function failure(p: Promise<unknown>): Promise<TokenVaultExchangeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TokenVaultExchangeError)
  return err as TokenVaultExchangeError
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('retries', () => {
  it('retries 429 then succeeds, leaving no timer behind', async () => {
    const { fetch, calls } = scripted(
      reply(429, { error: 'too_many_requests' }, { 'retry-after': '1' }),
      reply(200, OK),
    )
    const p = client(fetch).exchange(PARAMS)
    await vi.advanceTimersByTimeAsync(999)
    expect(calls).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    await expect(p).resolves.toMatchObject({ scope: ['a'] })
    expect(calls).toHaveLength(2)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('never retries 400/401/403', async () => {
    for (const status of [400, 401, 403, 404]) {
      const { fetch, calls } = scripted(reply(status, { error: 'invalid_grant' }))
      const err = await failure(client(fetch).exchange(PARAMS))
      expect(err.retryable).toBe(false)
      expect(calls).toHaveLength(1)
    }
  })

  it('maxRetries: 0 does not retry', async () => {
    const { fetch, calls } = scripted(reply(503))
    expect((await failure(client(fetch, { maxRetries: 0 }).exchange(PARAMS))).status).toBe(503)
    expect(calls).toHaveLength(1)
  })

  it('full jitter uses random() over the exponential window', async () => {
    const { fetch, calls } = scripted(reply(500), reply(500), reply(200, OK))
    const p = client(fetch, { random: () => 0.25, retryBaseDelayMs: 400 }).exchange(PARAMS)
    await vi.advanceTimersByTimeAsync(99)
    expect(calls).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1) // 0.25 * 400
    expect(calls).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(199)
    expect(calls).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1) // 0.25 * 800
    await expect(p).resolves.toBeDefined()
  })

  it('network errors are retried', async () => {
    const { fetch, calls } = scripted(
      () =>
        Promise.reject(
          new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
        ),
      reply(200, OK),
    )
    const p = client(fetch, { random: () => 0 }).exchange(PARAMS)
    await vi.advanceTimersByTimeAsync(0)
    await expect(p).resolves.toBeDefined()
    expect(calls).toHaveLength(2)
  })
})

describe('timeouts and aborts', () => {
  it('the per-attempt timeout aborts the fetch signal and clears itself', async () => {
    const { fetch, calls } = scripted(hang)
    const p = failure(client(fetch, { timeoutMs: 500, maxRetries: 0 }).exchange(PARAMS))
    await vi.advanceTimersByTimeAsync(500)
    const err = await p
    expect(err).toMatchObject({ status: 0, error: 'timeout', retryable: true })
    expect(calls[0]!.signal?.aborted).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('the timeout also covers a body that never ends', async () => {
    const stalled = () =>
      Promise.resolve(
        new Response(new ReadableStream({ start() {} }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
      )
    const { fetch } = scripted(stalled)
    const p = failure(client(fetch, { timeoutMs: 500, maxRetries: 0 }).exchange(PARAMS))
    await vi.advanceTimersByTimeAsync(500)
    expect(await p).toMatchObject({ status: 0, error: 'timeout', retryable: true })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('the timeout holds even against a fetch that ignores its signal', async () => {
    const deaf = (() => new Promise<Response>(() => {})) as unknown as typeof globalThis.fetch
    const p = failure(client(deaf, { timeoutMs: 500, maxRetries: 0 }).exchange(PARAMS))
    await vi.advanceTimersByTimeAsync(500)
    expect(await p).toMatchObject({ status: 0, error: 'timeout', retryable: true })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('a successful call leaves no timer behind', async () => {
    const { fetch } = scripted(reply(200, OK))
    await client(fetch).exchange(PARAMS)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("the caller's signal reaches fetch and stops at once", async () => {
    const { fetch, calls } = scripted(hang)
    const ac = new AbortController()
    const p = failure(client(fetch).exchange({ ...PARAMS, signal: ac.signal }))
    await vi.advanceTimersByTimeAsync(10)
    ac.abort()
    const err = await p
    expect(err).toMatchObject({ error: 'aborted', retryable: false })
    expect(calls[0]!.signal?.aborted).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('retryHintMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  it.each([
    [{ 'retry-after': '3' }, 3000],
    [{ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, 5000],
    [{ 'retry-after': 'Wed, 31 Dec 2025 23:59:00 GMT' }, 0],
    [{ 'x-ratelimit-reset': String(now / 1000 + 7) }, 7000],
    [{ 'retry-after': '2', 'x-ratelimit-reset': String(now / 1000 + 7) }, 2000],
    [{ 'retry-after': 'soon' }, undefined],
    [{ 'x-ratelimit-reset': '-1' }, undefined],
    [{}, undefined],
  ])('%j → %s', (headers, expected) => {
    expect(retryHintMs(new Headers(headers), now)).toBe(expected)
  })
})
