/**
 * TokenVaultClient over real loopback HTTP against the emulator. Backoff waits run on fake
 * timers; `sleep` is wrapped only to see when a wait has been scheduled and how long it is.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../emulator/index.js'
import { TokenVaultExchangeError } from '../errors.js'
import { type Auth0Config, resolveAuth0Config } from './config.js'
import { sleep } from './http.js'
import { TokenVaultClient, type TokenVaultClientOptions } from './token-vault-client.js'
import type { TokenVaultExchangeParams } from './types.js'

const CLIENT = { clientId: 'agent-app', clientSecret: 'client-secret-xyz' }
const ALICE = {
  userId: 'auth0|alice',
  refreshToken: 'rt_alice_0001',
  accessToken: 'at_alice_0001',
  connections: { github: ['repo:read', 'repo:write', 'read:user'] },
  accounts: { slack: { 'alice-work': ['chat:write'] } },
}

const HANG = 600_000
let emu: TokenVaultEmulator
let delays: number[]
let emulatorHolding: () => boolean

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  // The emulator's latency fault is a (fake) setTimeout of HANG ms: once it is scheduled, the
  // request has arrived and is being held.
  const timeouts = vi.spyOn(globalThis, 'setTimeout')
  emulatorHolding = () => timeouts.mock.calls.some((call) => call[1] === HANG)
  delays = []
  emu = await startTokenVaultEmulator({ clients: [CLIENT], users: [ALICE] })
})

afterEach(async () => {
  await emu.close()
  vi.restoreAllMocks()
  vi.useRealTimers()
})

function config(overrides: Partial<Parameters<typeof resolveAuth0Config>[0] & object> = {}): Auth0Config {
  return resolveAuth0Config({ domain: emu.url, ...CLIENT, ...overrides }, {})
}

function client(options: TokenVaultClientOptions = {}, cfg = config()): TokenVaultClient {
  return new TokenVaultClient(cfg, {
    random: () => 0.5,
    sleep: (ms, signal) => {
      delays.push(ms)
      return sleep(ms, signal)
    },
    ...options,
  })
}

const PARAMS: TokenVaultExchangeParams = {
  subjectToken: ALICE.refreshToken,
  subjectTokenType: 'refresh_token',
  connection: 'github',
  scopes: ['repo:read'],
}

async function failure(p: Promise<unknown>): Promise<TokenVaultExchangeError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TokenVaultExchangeError)
  return err as TokenVaultExchangeError
}

/** Spins the real event loop (fake timers stand still) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200_000; i++) {
    if (cond()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not met')
}

const tokenRequests = () => emu.requests.filter((r) => r.path === '/oauth/token')

describe('TokenVaultClient against the emulator: success', () => {
  it.each(['client_secret_post', 'client_secret_basic'] as const)(
    'exchanges with %s and downscopes',
    async (m) => {
      const res = await client({}, config({ clientAuth: m })).exchange({
        ...PARAMS,
        scopes: ['repo:read', 'read:user'],
      })
      expect(res.accessToken).toMatch(/^emu_at_/)
      expect(res.scope).toEqual(['repo:read', 'read:user'])
      expect(res.scopeReturned).toBe(true)
      expect(res.expiresAt).toBe(Date.now() + res.expiresIn * 1000)
      expect(tokenRequests()).toHaveLength(1)
    },
  )

  it('uses an access token as subject and a login hint', async () => {
    const res = await client().exchange({
      subjectToken: ALICE.accessToken,
      subjectTokenType: 'access_token',
      connection: 'slack',
      scopes: ['chat:write'],
      loginHint: 'alice-work',
    })
    expect(res.scope).toEqual(['chat:write'])
  })
})

describe('TokenVaultClient against the emulator: errors that are never retried', () => {
  it('unknown refresh token → 403 invalid_grant', async () => {
    const err = await failure(client().exchange({ ...PARAMS, subjectToken: 'rt_unknown_999' }))
    expect(err).toMatchObject({ status: 403, error: 'invalid_grant', retryable: false })
    expect(tokenRequests()).toHaveLength(1)
    expect(delays).toEqual([])
  })

  it('revoked refresh token → 403 invalid_grant', async () => {
    emu.revoke(ALICE.refreshToken)
    const err = await failure(client().exchange(PARAMS))
    expect(err).toMatchObject({ status: 403, error: 'invalid_grant' })
  })

  it('no connected account → 401 federated_connection_refresh_token_not_found', async () => {
    const err = await failure(client().exchange({ ...PARAMS, connection: 'google-oauth2' }))
    expect(err).toMatchObject({
      status: 401,
      error: 'federated_connection_refresh_token_not_found',
      errorDescription: 'Federated connection Refresh Token not found.',
      retryable: false,
    })
  })

  it('a login hint matching nobody → 401 user_not_found', async () => {
    const err = await failure(client().exchange({ ...PARAMS, loginHint: 'nobody' }))
    expect(err).toMatchObject({ status: 401, error: 'user_not_found' })
  })

  it.each(['client_secret_post', 'client_secret_basic'] as const)(
    'bad client secret (%s) → 401',
    async (m) => {
      const err = await failure(
        client({}, config({ clientSecret: 'wrong-secret', clientAuth: m })).exchange(PARAMS),
      )
      expect(err).toMatchObject({ status: 401, retryable: false })
      expect(tokenRequests()).toHaveLength(1)
    },
  )

  it('a scope that was never granted → 403 invalid_scope', async () => {
    const err = await failure(client().exchange({ ...PARAMS, scopes: ['admin:org'] }))
    expect(err).toMatchObject({ status: 403, error: 'invalid_scope', retryable: false })
    expect(err.errorDescription).toContain('admin:org')
  })

  it('403 unauthorized_client', async () => {
    emu.inject({
      path: '/oauth/token',
      status: 403,
      body: { error: 'unauthorized_client', error_description: 'no' },
    })
    const err = await failure(client().exchange(PARAMS))
    expect(err).toMatchObject({ status: 403, error: 'unauthorized_client', retryable: false })
    expect(tokenRequests()).toHaveLength(1)
  })

  it('a malformed 200 body → invalid_response, not retried', async () => {
    emu.inject({ path: '/oauth/token', malformed: true })
    const err = await failure(client().exchange(PARAMS))
    expect(err).toMatchObject({ status: 200, error: 'invalid_response', retryable: false })
    expect(tokenRequests()).toHaveLength(1)
  })
})

describe('TokenVaultClient against the emulator: retries', () => {
  it('429 with Retry-After, then success: waits exactly Retry-After', async () => {
    emu.inject({ path: '/oauth/token', status: 429, headers: { 'retry-after': '2' } })
    const pending = client().exchange(PARAMS)
    await until(() => delays.length === 1)
    expect(delays).toEqual([2000])
    await vi.advanceTimersByTimeAsync(1999)
    expect(tokenRequests()).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    const res = await pending
    expect(res.scope).toEqual(['repo:read'])
    expect(tokenRequests().map((r) => r.status)).toEqual([429, 200])
  })

  it('429 from the per-client rate limit honours x-ratelimit-reset / Retry-After', async () => {
    await emu.close()
    emu = await startTokenVaultEmulator({
      clients: [CLIENT],
      users: [ALICE],
      rateLimit: { max: 1, perSeconds: 3 },
    })
    const c = client()
    await c.exchange(PARAMS)
    const pending = c.exchange(PARAMS)
    await until(() => delays.length === 1)
    expect(delays[0]).toBeGreaterThan(0)
    expect(delays[0]).toBeLessThanOrEqual(3000)
    await vi.advanceTimersByTimeAsync(delays[0]!)
    await expect(pending).resolves.toMatchObject({ scope: ['repo:read'] })
    expect(tokenRequests().map((r) => r.status)).toEqual([200, 429, 200])
  })

  it('429 with only x-ratelimit-reset (unix seconds)', async () => {
    const reset = Math.floor(Date.now() / 1000) + 3
    emu.inject({ path: '/oauth/token', status: 429, headers: { 'x-ratelimit-reset': String(reset) } })
    const pending = client().exchange(PARAMS)
    await until(() => delays.length === 1)
    expect(delays[0]).toBe(reset * 1000 - Date.now())
    await vi.advanceTimersByTimeAsync(delays[0]!)
    await expect(pending).resolves.toBeDefined()
  })

  it('a Retry-After beyond retryMaxDelayMs ends the retries at once', async () => {
    emu.inject({ path: '/oauth/token', status: 429, headers: { 'retry-after': '3600' } })
    const err = await failure(client().exchange(PARAMS))
    expect(err).toMatchObject({ status: 429, retryable: true })
    expect(delays).toEqual([])
  })

  it('repeated 503 → error after maxRetries + 1 attempts, exponential backoff with jitter', async () => {
    emu.inject({ path: '/oauth/token', status: 503, times: 10 })
    const pending = failure(client({ maxRetries: 3, retryBaseDelayMs: 200 }).exchange(PARAMS))
    for (let i = 1; i <= 3; i++) {
      await until(() => delays.length === i)
      await vi.advanceTimersByTimeAsync(delays[i - 1]!)
    }
    const err = await pending
    expect(err).toMatchObject({ status: 503, retryable: true })
    expect(tokenRequests()).toHaveLength(4)
    // random() = 0.5 of min(cap, 200 * 2^n)
    expect(delays).toEqual([100, 200, 400])
  })

  it('backoff is capped by retryMaxDelayMs', async () => {
    emu.inject({ path: '/oauth/token', status: 500, times: 10 })
    const pending = failure(
      client({ maxRetries: 4, retryBaseDelayMs: 1000, retryMaxDelayMs: 3000, random: () => 0.999 }).exchange(
        PARAMS,
      ),
    )
    for (let i = 1; i <= 4; i++) {
      await until(() => delays.length === i)
      await vi.advanceTimersByTimeAsync(delays[i - 1]!)
    }
    await pending
    expect(delays).toEqual([999, 1998, 2997, 2997])
  })

  it('500 with an HTML body, then success', async () => {
    emu.inject({
      path: '/oauth/token',
      status: 500,
      body: '<html>oops</html>',
      headers: { 'content-type': 'text/html' },
    })
    const pending = client().exchange(PARAMS)
    await until(() => delays.length === 1)
    await vi.advanceTimersByTimeAsync(delays[0]!)
    await expect(pending).resolves.toBeDefined()
    expect(tokenRequests().map((r) => r.status)).toEqual([500, 200])
  })

  it('a reset connection is a retryable network error', async () => {
    emu.inject({ path: '/oauth/token', reset: true, times: 2 })
    const pending = failure(client({ maxRetries: 1 }).exchange(PARAMS))
    await until(() => delays.length === 1)
    await vi.advanceTimersByTimeAsync(delays[0]!)
    const err = await pending
    expect(err).toMatchObject({ status: 0, error: 'network_error', retryable: true })
  })

  it('a closed port is a network error after the retries', async () => {
    const url = emu.url
    await emu.close()
    emu = await startTokenVaultEmulator({ clients: [CLIENT], users: [ALICE] })
    const c = client({ maxRetries: 2 }, resolveAuth0Config({ domain: url, ...CLIENT }, {}))
    const pending = failure(c.exchange(PARAMS))
    for (let i = 1; i <= 2; i++) {
      await until(() => delays.length === i)
      await vi.advanceTimersByTimeAsync(delays[i - 1]!)
    }
    expect(await pending).toMatchObject({ status: 0, error: 'network_error' })
  })
})

describe('TokenVaultClient against the emulator: timeouts and aborts', () => {
  it('a hung response times out (per-attempt timeout)', async () => {
    emu.inject({ path: '/oauth/token', latencyMs: HANG })
    let settled = false
    const pending = failure(client({ timeoutMs: 1000, maxRetries: 0 }).exchange(PARAMS)).finally(() => {
      settled = true
    })
    await until(emulatorHolding)
    await vi.advanceTimersByTimeAsync(999)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const err = await pending
    expect(err).toMatchObject({ status: 0, error: 'timeout', retryable: true })
    expect(err.message).toContain('1000 ms')
  })

  it('a timed-out attempt is retried', async () => {
    emu.inject({ path: '/oauth/token', latencyMs: HANG })
    const pending = client({ timeoutMs: 1000, maxRetries: 1 }).exchange(PARAMS)
    await until(emulatorHolding)
    await vi.advanceTimersByTimeAsync(1000)
    await until(() => delays.length === 1)
    await vi.advanceTimersByTimeAsync(delays[0]!)
    await expect(pending).resolves.toMatchObject({ scope: ['repo:read'] })
  })

  it('the caller aborting mid-request stops at once, not retryable', async () => {
    emu.inject({ path: '/oauth/token', latencyMs: 600_000 })
    const ac = new AbortController()
    const pending = failure(client().exchange({ ...PARAMS, signal: ac.signal }))
    await until(emulatorHolding)
    ac.abort()
    const err = await pending
    expect(err).toMatchObject({ status: 0, error: 'aborted', retryable: false })
    expect(delays).toEqual([])
  })

  it('the caller aborting during backoff stops retrying at once', async () => {
    emu.inject({ path: '/oauth/token', status: 503, times: 10 })
    const ac = new AbortController()
    const pending = failure(client().exchange({ ...PARAMS, signal: ac.signal }))
    await until(() => delays.length === 1)
    ac.abort()
    const err = await pending
    expect(err).toMatchObject({ error: 'aborted', retryable: false })
    expect(tokenRequests()).toHaveLength(1)
  })

  it('an already aborted signal sends nothing', async () => {
    const err = await failure(client().exchange({ ...PARAMS, signal: AbortSignal.abort() }))
    expect(err.error).toBe('aborted')
    expect(emu.requests).toHaveLength(0)
  })
})
