/**
 * CibaApprover over real loopback HTTP against the emulator; poll intervals on fake timers.
 */
import { createHmac } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { resolveAuth0Config } from '../auth0/config.js'
import { sleep } from '../auth0/http.js'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../emulator/index.js'
import { InvalidTokenRequestError, TokenVaultExchangeError } from '../errors.js'
import { CibaApprover, type CibaApproverOptions } from './ciba-approver.js'
import type { StepUpRequest } from './types.js'

const CLIENT = { clientId: 'agent-app', clientSecret: 'client-secret-xyz' }
const ALICE = {
  userId: 'auth0|alice',
  refreshToken: 'rt_alice_0001',
  connections: { github: ['repo:write'] },
}

let emu: TokenVaultEmulator
let delays: number[]

async function start(ciba?: { interval?: number; expiresIn?: number }) {
  emu = await startTokenVaultEmulator({ clients: [CLIENT], users: [ALICE], ...(ciba ? { ciba } : {}) })
}

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  delays = []
  await start()
})

afterEach(async () => {
  await emu.close()
  vi.useRealTimers()
})

/** Spins the real event loop (fake timers stand still) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200_000; i++) {
    if (cond()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not met')
}

function approver(options: CibaApproverOptions = {}): CibaApprover {
  return new CibaApprover({
    auth0: { domain: emu.url, ...CLIENT },
    env: {},
    client: {
      sleep: (ms, signal) => {
        delays.push(ms)
        return sleep(ms, signal)
      },
    },
    ...options,
  })
}

function request(overrides: Partial<StepUpRequest> = {}): StepUpRequest {
  return {
    id: 'su-1',
    agentId: 'builder',
    role: 'IMPLEMENTER',
    connection: 'github',
    scopes: ['repo:write'],
    toolName: 'push',
    userId: ALICE.userId,
    bindingMessage: 'builder asks github: repo:write',
    expiresAt: Date.now() + 300_000,
    ...overrides,
  }
}

const polls = () => emu.requests.filter((r) => r.path === '/oauth/token')

describe('CibaApprover against the emulator', () => {
  it('is a resource-owner approver', () => {
    expect(approver().kind).toBe('resource_owner')
  })

  it('starts a CIBA request with binding message and authorization_details, then approves', async () => {
    const p = approver().requestApproval(request())
    await until(() => delays.length === 1)
    expect(delays[0]).toBe(5000)
    const [pending] = emu.pending()
    expect(pending).toMatchObject({
      userId: 'auth0|alice',
      bindingMessage: 'builder asks github: repo:write',
      scope: 'openid',
      authorizationDetails: [
        {
          type: 'token_vault_scopes',
          agent_id: 'builder',
          role: 'IMPLEMENTER',
          connection: 'github',
          scopes: ['repo:write'],
        },
      ],
    })
    emu.approve(pending!.authReqId)
    await vi.advanceTimersByTimeAsync(5000)
    const decision = await p
    expect(decision).toEqual({ approved: true, approver: { id: 'auth0|alice' }, decidedAt: Date.now() })
    expect(JSON.stringify(decision)).not.toContain('emu_ciba_')
  })

  it('keeps polling while authorization_pending, at the interval, without slow_down', async () => {
    const p = approver().requestApproval(request())
    for (let i = 1; i <= 3; i++) {
      await until(() => delays.length === i)
      await vi.advanceTimersByTimeAsync(delays[i - 1]!)
    }
    await until(() => delays.length === 4)
    expect(polls().map((r) => r.status)).toEqual([400, 400, 400])
    emu.approve(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(delays[3]!)
    expect((await p).approved).toBe(true)
    expect(delays).toEqual([5000, 5000, 5000, 5000])
  })

  it("honours the answer's interval", async () => {
    await emu.close()
    await start({ interval: 2 })
    const p = approver().requestApproval(request())
    await until(() => delays.length === 1)
    expect(delays[0]).toBe(2000)
    emu.deny(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(2000)
    await p
  })

  it('adds 5 s to the interval on slow_down', async () => {
    emu.inject({ path: '/oauth/token', status: 400, body: { error: 'slow_down', error_description: 'slow' } })
    const p = approver().requestApproval(request())
    await until(() => delays.length === 1)
    await vi.advanceTimersByTimeAsync(5000)
    await until(() => delays.length === 2)
    expect(delays[1]).toBe(10_000)
    emu.approve(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(9_999)
    expect(polls()).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect((await p).approved).toBe(true)
  })

  it('a denial is { approved: false }, not expired', async () => {
    const p = approver().requestApproval(request())
    await until(() => delays.length === 1)
    emu.deny(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(5000)
    const d = await p
    expect(d).toMatchObject({ approved: false, approver: { id: 'auth0|alice' } })
    expect(d.expired).toBeUndefined()
  })

  it('expiry (requested_expiry) resolves { approved: false, expired: true }', async () => {
    const p = approver({ requestedExpirySeconds: 12 }).requestApproval(request())
    let settled = false
    void p.finally(() => {
      settled = true
    })
    for (let i = 1; !settled && i < 20; i++) {
      await until(() => settled || delays.length === i)
      if (!settled) await vi.advanceTimersByTimeAsync(delays[i - 1]!)
      await until(() => settled || delays.length > i)
    }
    expect(await p).toMatchObject({ approved: false, expired: true, reason: 'expired' })
    // polls at 5 s and 10 s, then one last at the 12 s deadline
    expect(delays).toEqual([5000, 5000, 2000])
  })

  it("stops at the step-up request's expiresAt when that comes first", async () => {
    const p = approver().requestApproval(request({ expiresAt: Date.now() + 7_000 }))
    await until(() => delays.length === 1)
    expect(emu.pending()[0]!.expiresAt).toBe(Date.now() + 7_000)
    await vi.advanceTimersByTimeAsync(5000)
    await until(() => delays.length === 2)
    expect(delays[1]).toBe(2000)
    await vi.advanceTimersByTimeAsync(2000)
    expect(await p).toMatchObject({ approved: false, expired: true })
  })

  it('an aborted signal resolves expired with reason aborted, at once', async () => {
    const ac = new AbortController()
    const p = approver().requestApproval(request(), { signal: ac.signal })
    await until(() => delays.length === 1)
    ac.abort()
    expect(await p).toMatchObject({ approved: false, expired: true, reason: 'aborted' })
    expect(polls()).toHaveLength(0)
    const already = await approver().requestApproval(request(), { signal: AbortSignal.abort() })
    expect(already).toMatchObject({ expired: true, reason: 'aborted' })
  })

  it('a request without userId is refused with a clear error', async () => {
    const err = await approver()
      .requestApproval(request({ userId: undefined }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidTokenRequestError)
    expect((err as Error).message).toMatch(/userId/)
    expect(emu.requests).toHaveLength(0)
  })

  it('an unknown user is a TokenVaultExchangeError from /bc-authorize', async () => {
    const err = await approver()
      .requestApproval(request({ userId: 'auth0|nobody' }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenVaultExchangeError)
    expect(err).toMatchObject({ status: 400, error: 'unknown_user_id' })
  })

  it('re-sanitizes the binding message and falls back to one built from the request', async () => {
    const p = approver().requestApproval(request({ bindingMessage: '' }))
    await until(() => delays.length === 1)
    expect(emu.pending()[0]!.bindingMessage).toBe('builder asks github: repo:write')
    emu.deny(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(5000)
    await p
  })

  it('reads AUTH0_* from env when auth0 is not given', async () => {
    const a = new CibaApprover({
      env: {
        AUTH0_DOMAIN: emu.url,
        AUTH0_CLIENT_ID: CLIENT.clientId,
        AUTH0_CLIENT_SECRET: CLIENT.clientSecret,
      },
      client: {
        sleep: (ms, s) => {
          delays.push(ms)
          return sleep(ms, s)
        },
      },
    })
    const p = a.requestApproval(request())
    await until(() => delays.length === 1)
    emu.deny(emu.pending()[0]!.authReqId)
    await vi.advanceTimersByTimeAsync(5000)
    expect((await p).approved).toBe(false)
  })
})

describe('CibaApprover: ID token subject check (injected fetch)', () => {
  it('refuses an approval whose ID token names another user', async () => {
    const config = resolveAuth0Config({ domain: 'tenant.auth0.com', ...CLIENT }, {})
    const now = Math.floor(Date.now() / 1000)
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    const input = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ iss: config.issuer, aud: CLIENT.clientId, sub: 'auth0|mallory', iat: now, exp: now + 60 })}`
    const idToken = `${input}.${createHmac('sha256', CLIENT.clientSecret).update(input).digest('base64url')}`
    const answers = [
      { auth_req_id: 'r1', expires_in: 60, interval: 1 },
      { access_token: 'at', id_token: idToken, token_type: 'Bearer', expires_in: 60 },
    ]
    const fetch = (async () =>
      new Response(JSON.stringify(answers.shift()), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      })) as unknown as typeof globalThis.fetch
    const p = new CibaApprover({ auth0: config, fetch }).requestApproval(request()).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(1000)
    const err = await p
    expect(err).toBeInstanceOf(TokenVaultExchangeError)
    expect(err).toMatchObject({ status: 200, error: 'invalid_response' })
    expect((err as Error).message).toContain('another user')
    expect(JSON.stringify(err)).not.toContain(idToken)
  })
})
