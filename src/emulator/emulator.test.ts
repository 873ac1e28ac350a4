import { createPublicKey, type JsonWebKey, verify } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { inspect } from 'node:util'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  EmulatorConfigError,
  type EmulatorOptions,
  startTokenVaultEmulator,
  type TokenVaultEmulator,
} from './index.js'

const GRANT = 'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token'
const FEDERATED = 'http://auth0.com/oauth/token-type/federated-connection-access-token'
const RT_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const CIBA = 'urn:openid:params:grant-type:ciba'

const SECRET = 'canary-client-secret-7f3a'
const ODD_SECRET = 'canary:odd secret+/%é'
const RT = 'canary-refresh-token-91bc'
const AT = 'canary-access-token-55de'
const RT_BOB = 'canary-refresh-token-bob-2'
const CANARIES = [SECRET, ODD_SECRET, RT, AT, RT_BOB]

let clock = 1_800_000_000_000
let emu: TokenVaultEmulator

function options(extra: Partial<EmulatorOptions> = {}): EmulatorOptions {
  return {
    port: 0,
    clients: [
      { clientId: 'app', clientSecret: SECRET },
      { clientId: 'odd:id', clientSecret: ODD_SECRET },
    ],
    users: [
      {
        userId: 'auth0|alice',
        refreshToken: RT,
        accessToken: AT,
        connections: { github: ['read:user', 'repo:read', 'repo:write'], slack: ['channels:read'] },
        accounts: { github: { 'alice-work': ['repo:read'] } },
      },
      { userId: 'auth0|bob', refreshToken: RT_BOB, connections: { github: ['read:user'] } },
    ],
    now: () => clock,
    ...extra,
  }
}

beforeEach(async () => {
  clock = 1_800_000_000_000
  emu = await startTokenVaultEmulator(options())
})
afterEach(async () => {
  await emu.close()
})

interface PostOptions {
  json?: boolean
  basic?: [string, string]
  path?: string
  target?: TokenVaultEmulator
}

async function post(params: Record<string, string>, o: PostOptions = {}) {
  const headers: Record<string, string> = {}
  let body: string
  if (o.json) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(params)
  } else {
    headers['content-type'] = 'application/x-www-form-urlencoded'
    body = new URLSearchParams(params).toString()
  }
  if (o.basic) {
    const form = (s: string) => new URLSearchParams({ x: s }).toString().slice(2)
    headers.authorization = `Basic ${Buffer.from(`${form(o.basic[0])}:${form(o.basic[1])}`).toString('base64')}`
  }
  const res = await fetch(`${(o.target ?? emu).url}${o.path ?? '/oauth/token'}`, {
    method: 'POST',
    headers,
    body,
  })
  return { res, json: (await res.json()) as Record<string, unknown> }
}

const auth = { client_id: 'app', client_secret: SECRET }
function exchange(extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: GRANT,
    subject_token: RT,
    subject_token_type: RT_TYPE,
    requested_token_type: FEDERATED,
    connection: 'github',
    ...auth,
    ...extra,
  }
}

describe('Token Vault exchange', () => {
  it('answers a form-encoded client_secret_post exchange with every granted scope', async () => {
    const { res, json } = await post(exchange())
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(json).toEqual({
      access_token: expect.stringMatching(/^emu_at_/),
      expires_in: 3600,
      scope: 'read:user repo:read repo:write',
      token_type: 'Bearer',
      issued_token_type: FEDERATED,
    })
  })

  it('accepts a JSON body', async () => {
    const { res, json } = await post(exchange({ scope: 'repo:read' }), { json: true })
    expect(res.status).toBe(200)
    expect(json.scope).toBe('repo:read')
  })

  it('accepts HTTP Basic with form-urlencoded id and secret (RFC 6749 §2.3.1)', async () => {
    const { client_id: _i, client_secret: _s, ...rest } = exchange()
    const { res } = await post(rest, { basic: ['odd:id', ODD_SECRET] })
    expect(res.status).toBe(200)
    const bad = await post(rest, { basic: ['odd:id', 'wrong'] })
    expect(bad.res.status).toBe(401)
  })

  it('refuses a bad secret, an unknown client and a missing secret with 401 access_denied', async () => {
    for (const creds of [
      { client_id: 'app', client_secret: 'nope' },
      { client_id: 'ghost', client_secret: SECRET },
      { client_id: 'app', client_secret: '' },
    ]) {
      const { res, json } = await post(exchange(creds))
      expect(res.status).toBe(401)
      expect(json).toEqual({ error: 'access_denied', error_description: 'Unauthorized' })
    }
  })

  it('refuses a missing client_id and two authentication methods at once with 400 invalid_request', async () => {
    const { client_id: _i, client_secret: _s, ...rest } = exchange()
    const missing = await post(rest)
    expect(missing.res.status).toBe(400)
    expect(missing.json.error).toBe('invalid_request')
    const both = await post(exchange(), { basic: ['app', SECRET] })
    expect(both.res.status).toBe(400)
    expect(both.json.error).toBe('invalid_request')
  })

  it('answers an unknown refresh token with 403 invalid_grant', async () => {
    const { res, json } = await post(exchange({ subject_token: 'rt_unknown' }))
    expect(res.status).toBe(403)
    expect(json).toEqual({ error: 'invalid_grant', error_description: 'Unknown or invalid refresh token.' })
  })

  it('answers a revoked refresh token with 403 invalid_grant', async () => {
    expect(emu.revoke(RT)).toBe(true)
    expect(emu.revoke('rt_unknown')).toBe(false)
    const { res, json } = await post(exchange())
    expect(res.status).toBe(403)
    expect(json.error).toBe('invalid_grant')
  })

  it('exchanges an access token as subject, and refuses an unknown one with 401 invalid_grant', async () => {
    const ok = await post(exchange({ subject_token: AT, subject_token_type: AT_TYPE, scope: 'repo:read' }))
    expect(ok.res.status).toBe(200)
    const bad = await post(exchange({ subject_token: 'at_unknown', subject_token_type: AT_TYPE }))
    expect(bad.res.status).toBe(401)
    expect(bad.json.error).toBe('invalid_grant')
  })

  it('answers a missing connection with 400 invalid_request', async () => {
    const { connection: _c, ...rest } = exchange()
    const { res, json } = await post(rest)
    expect(res.status).toBe(400)
    expect(json).toEqual({
      error: 'invalid_request',
      error_description: 'Missing required parameter: connection',
    })
  })

  it('answers a connection without a connected account with 401 federated_connection_refresh_token_not_found', async () => {
    const { res, json } = await post(exchange({ connection: 'google-oauth2' }))
    expect(res.status).toBe(401)
    expect(json).toEqual({
      error: 'federated_connection_refresh_token_not_found',
      error_description: 'Federated connection Refresh Token not found.',
    })
  })

  it('selects an account by login_hint, and answers an unknown hint with 401 user_not_found', async () => {
    const work = await post(exchange({ login_hint: 'alice-work' }))
    expect(work.res.status).toBe(200)
    expect(work.json.scope).toBe('repo:read')
    const none = await post(exchange({ login_hint: 'nobody' }))
    expect(none.res.status).toBe(401)
    expect(none.json.error).toBe('user_not_found')
  })

  it('answers a wrong grant type with unsupported_grant_type and wrong token types with invalid_request', async () => {
    const grant = await post(exchange({ grant_type: 'urn:example:nope' }))
    expect(grant.res.status).toBe(400)
    expect(grant.json.error).toBe('unsupported_grant_type')
    const missing = await post({ ...auth })
    expect(missing.res.status).toBe(400)
    expect(missing.json.error).toBe('invalid_request')
    const subject = await post(exchange({ subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }))
    expect(subject.res.status).toBe(400)
    expect(subject.json.error).toBe('invalid_request')
    const requested = await post(
      exchange({ requested_token_type: 'urn:ietf:params:oauth:token-type:access_token' }),
    )
    expect(requested.res.status).toBe(400)
    expect(requested.json.error).toBe('invalid_request')
    const known = await post(exchange({ grant_type: 'client_credentials' }))
    expect(known.res.status).toBe(403)
    expect(known.json.error).toBe('unauthorized_client')
  })

  it('downscopes to a requested subset, and refuses a never-granted scope with 403 invalid_scope', async () => {
    const sub = await post(exchange({ scope: 'repo:read read:user' }))
    expect(sub.res.status).toBe(200)
    expect(sub.json.scope).toBe('repo:read read:user')
    const over = await post(exchange({ scope: 'repo:read delete_repo' }))
    expect(over.res.status).toBe(403)
    expect(over.json.error).toBe('invalid_scope')
    expect(over.json.error_description).toContain('delete_repo')
  })

  it('issues a different access token every time', async () => {
    const tokens = new Set<unknown>()
    for (let i = 0; i < 20; i++) tokens.add((await post(exchange())).json.access_token)
    expect(tokens.size).toBe(20)
  })

  it('uses tokenExpiresIn', async () => {
    const other = await startTokenVaultEmulator(options({ tokenExpiresIn: 120 }))
    try {
      const { json } = await post(exchange(), { target: other })
      expect(json.expires_in).toBe(120)
    } finally {
      await other.close()
    }
  })
})

describe('HTTP surface', () => {
  it('answers an unknown path with 404 JSON and a wrong method with 405 JSON', async () => {
    const notFound = await fetch(`${emu.url}/nope`, { method: 'POST' })
    expect(notFound.status).toBe(404)
    expect(((await notFound.json()) as { error: string }).error).toBe('not_found')
    const wrongMethod = await fetch(`${emu.url}/oauth/token`)
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('POST')
    expect(((await wrongMethod.json()) as { error: string }).error).toBe('method_not_allowed')
  })

  it('refuses an oversized body with 413, an unknown content type and a repeated parameter with 400', async () => {
    const big = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `x=${'a'.repeat(70 * 1024)}`,
    })
    expect(big.status).toBe(413)
    const text = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    })
    expect(text.status).toBe(400)
    const twice = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${new URLSearchParams(exchange())}&connection=slack`,
    })
    expect(twice.status).toBe(400)
    expect(((await twice.json()) as { error: string }).error).toBe('invalid_request')
  })

  it('serves an OpenID discovery document naming both endpoints', async () => {
    const res = await fetch(`${emu.url}/.well-known/openid-configuration`)
    const doc = (await res.json()) as Record<string, string>
    expect(doc.issuer).toBe(`${emu.url}/`)
    expect(doc.token_endpoint).toBe(`${emu.url}/oauth/token`)
    expect(doc.backchannel_authentication_endpoint).toBe(`${emu.url}/bc-authorize`)
  })

  it('refuses malformed options without echoing secrets', async () => {
    const bad = { ...options(), clients: [{ clientId: 'app', clientSecret: SECRET, extra: SECRET }] }
    const err = await startTokenVaultEmulator(bad as EmulatorOptions).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EmulatorConfigError)
    expect((err as Error).message).toContain('clients.0')
    expect((err as Error).message).not.toContain(SECRET)
  })
})

describe('rate limit', () => {
  it('sends x-ratelimit-* headers and answers 429 with Retry-After over the per-client limit', async () => {
    const limited = await startTokenVaultEmulator(options({ rateLimit: { max: 2, perSeconds: 10 } }))
    try {
      const first = await post(exchange(), { target: limited })
      expect(first.res.status).toBe(200)
      expect(first.res.headers.get('x-ratelimit-limit')).toBe('2')
      expect(first.res.headers.get('x-ratelimit-remaining')).toBe('1')
      const reset = String(Math.ceil((clock + 10_000) / 1000))
      expect(first.res.headers.get('x-ratelimit-reset')).toBe(reset)
      expect((await post(exchange(), { target: limited })).res.headers.get('x-ratelimit-remaining')).toBe('0')

      clock += 4_000
      const over = await post(exchange(), { target: limited })
      expect(over.res.status).toBe(429)
      expect(over.json.error).toBe('too_many_requests')
      expect(over.res.headers.get('retry-after')).toBe('6')
      expect(over.res.headers.get('x-ratelimit-remaining')).toBe('0')
      expect(over.res.headers.get('x-ratelimit-reset')).toBe(reset)

      const other = await post(exchange({ client_id: 'odd:id', client_secret: ODD_SECRET }), {
        target: limited,
      })
      expect(other.res.status).toBe(200)

      clock += 6_000
      expect((await post(exchange(), { target: limited })).res.status).toBe(200)
    } finally {
      await limited.close()
    }
  })
})

describe('CIBA', () => {
  const details = [{ type: 'token_vault_scopes', connection: 'github', scopes: ['repo:write'] }]
  function bc(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...auth,
      scope: 'openid',
      login_hint: JSON.stringify({ format: 'iss_sub', iss: `${emu.url}/`, sub: 'auth0|alice' }),
      binding_message: 'builder asks github: repo:write',
      authorization_details: JSON.stringify(details),
      ...extra,
    }
  }
  const poll = (id: string, creds = auth) => post({ grant_type: CIBA, auth_req_id: id, ...creds })

  it('answers /bc-authorize and lists the request as pending', async () => {
    const { res, json } = await post(bc(), { path: '/bc-authorize' })
    expect(res.status).toBe(200)
    expect(json).toEqual({ auth_req_id: expect.any(String), expires_in: 300, interval: 5 })
    expect(emu.pending()).toEqual([
      {
        authReqId: json.auth_req_id,
        userId: 'auth0|alice',
        bindingMessage: 'builder asks github: repo:write',
        scope: 'openid',
        authorizationDetails: details,
        expiresAt: clock + 300_000,
      },
    ])
  })

  it('polls pending, slow_down, approve, then refuses reuse with invalid_grant', async () => {
    const id = (await post(bc(), { path: '/bc-authorize', json: true })).json.auth_req_id as string
    const p1 = await poll(id)
    expect(p1.res.status).toBe(400)
    expect(p1.json).toEqual({
      error: 'authorization_pending',
      error_description: 'The end-user authorization is pending',
    })
    clock += 1_000
    const fast = await poll(id)
    expect(fast.res.status).toBe(400)
    expect(fast.json.error).toBe('slow_down')
    expect(fast.res.headers.get('retry-after')).toBe('5')
    clock += 5_000
    expect((await poll(id)).json.error).toBe('authorization_pending')
    emu.approve(id)
    expect(emu.pending()).toEqual([])
    clock += 5_000
    const ok = await poll(id)
    expect(ok.res.status).toBe(200)
    expect(ok.json).toEqual({
      access_token: expect.any(String),
      id_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      expires_in: 3600,
      scope: 'openid',
      token_type: 'Bearer',
      authorization_details: details,
    })
    const claims = JSON.parse(
      Buffer.from(String(ok.json.id_token).split('.')[1] ?? '', 'base64url').toString(),
    )
    expect(claims).toMatchObject({ iss: `${emu.url}/`, sub: 'auth0|alice', aud: 'app' })
    const [h, p, sig] = String(ok.json.id_token).split('.') as [string, string, string]
    const jwks = (await (await fetch(`${emu.url}/.well-known/jwks.json`)).json()) as { keys: JsonWebKey[] }
    const key = createPublicKey({ key: jwks.keys[0] as JsonWebKey, format: 'jwk' })
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toMatchObject({ alg: 'RS256' })
    expect(verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(sig, 'base64url'))).toBe(true)
    clock += 5_000
    const again = await poll(id)
    expect(again.res.status).toBe(400)
    expect(again.json.error).toBe('invalid_grant')
    expect(() => emu.approve(id)).toThrow()
  })

  it('accepts a JSON body with authorization_details as an array and a numeric requested_expiry', async () => {
    const res = await fetch(`${emu.url}/bc-authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...bc(), authorization_details: details, requested_expiry: 120 }),
    })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { expires_in: number }).expires_in).toBe(120)
    expect(emu.pending()[0]?.authorizationDetails).toEqual(details)
  })

  it('answers access_denied after deny', async () => {
    const id = (await post(bc(), { path: '/bc-authorize' })).json.auth_req_id as string
    emu.deny(id)
    const res = await poll(id)
    expect(res.res.status).toBe(400)
    expect(res.json).toEqual({
      error: 'access_denied',
      error_description: 'The end-user denied the authorization request or it has been expired',
    })
  })

  it('answers access_denied after expiry, honouring requested_expiry', async () => {
    const { json } = await post(bc({ requested_expiry: '60' }), { path: '/bc-authorize' })
    expect(json.expires_in).toBe(60)
    clock += 60_000
    expect(emu.pending()).toEqual([])
    expect(() => emu.approve(json.auth_req_id as string)).toThrow()
    expect((await poll(json.auth_req_id as string)).json.error).toBe('access_denied')
  })

  it('refuses a poll from another client with invalid_grant', async () => {
    const id = (await post(bc(), { path: '/bc-authorize' })).json.auth_req_id as string
    const res = await poll(id, { client_id: 'odd:id', client_secret: ODD_SECRET })
    expect(res.res.status).toBe(400)
    expect(res.json.error).toBe('invalid_grant')
  })

  it('validates /bc-authorize: client auth, openid, login_hint, binding_message, authorization_details', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [bc({ client_secret: 'wrong' }), 401, 'access_denied'],
      [bc({ scope: 'profile' }), 400, 'invalid_request'],
      [bc({ login_hint: 'auth0|alice' }), 400, 'invalid_request'],
      [
        bc({ login_hint: JSON.stringify({ format: 'iss_sub', iss: 'https://x/', sub: 'auth0|alice' }) }),
        400,
        'invalid_request',
      ],
      [
        bc({ login_hint: JSON.stringify({ format: 'iss_sub', iss: `${emu.url}/`, sub: 'auth0|zed' }) }),
        400,
        'unknown_user_id',
      ],
      [bc({ binding_message: 'no <html> here' }), 400, 'invalid_binding_message'],
      [bc({ binding_message: 'a'.repeat(65) }), 400, 'invalid_binding_message'],
      [bc({ authorization_details: '{"type":"x"}' }), 400, 'invalid_authorization_details'],
      [bc({ requested_expiry: '-1' }), 400, 'invalid_request'],
    ]
    for (const [params, status, error] of cases) {
      const { res, json } = await post(params, { path: '/bc-authorize' })
      expect([res.status, json.error]).toEqual([status, error])
    }
    const { binding_message: _b, ...noMessage } = bc()
    expect((await post(noMessage, { path: '/bc-authorize' })).json.error).toBe('invalid_request')
    expect(emu.pending()).toEqual([])
  })

  it('accepts the issuer of the Host the client used (localhost) and issues the ID token for it', async () => {
    const local = emu.url.replace('127.0.0.1', 'localhost')
    const hint = JSON.stringify({ format: 'iss_sub', iss: `${local}/`, sub: 'auth0|alice' })
    const started = await fetch(`${local}/bc-authorize`, {
      method: 'POST',
      body: new URLSearchParams(bc({ login_hint: hint })),
    })
    const id = ((await started.json()) as { auth_req_id: string }).auth_req_id
    emu.approve(id)
    const res = await fetch(`${local}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: CIBA, auth_req_id: id, ...auth }),
    })
    const token = ((await res.json()) as { id_token: string }).id_token
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString())
    expect(claims.iss).toBe(`${local}/`)
  })

  it('uses the configured interval', async () => {
    const other = await startTokenVaultEmulator(options({ ciba: { interval: 2, expiresIn: 30 } }))
    try {
      const hint = JSON.stringify({ format: 'iss_sub', iss: `${other.url}/`, sub: 'auth0|bob' })
      const { json } = await post(bc({ login_hint: hint }), { path: '/bc-authorize', target: other })
      expect(json).toMatchObject({ expires_in: 30, interval: 2 })
    } finally {
      await other.close()
    }
  })
})

describe('faults', () => {
  it('answers an injected status with an Auth0-style body, then handles normally again', async () => {
    emu.inject({ status: 503 })
    const faulted = await post(exchange())
    expect(faulted.res.status).toBe(503)
    expect(faulted.json.error).toBe('temporarily_unavailable')
    expect((await post(exchange())).res.status).toBe(200)
  })

  it('answers a custom body and headers the given number of times, on the given path only', async () => {
    emu.inject({
      path: '/oauth/token',
      times: 2,
      status: 429,
      body: { error: 'too_many_requests', error_description: 'slow' },
      headers: { 'retry-after': '2', 'x-ratelimit-reset': '1800000002' },
    })
    const bcOnly = await post({ client_id: 'app', client_secret: 'wrong' }, { path: '/bc-authorize' })
    expect(bcOnly.res.status).toBe(401)
    for (let i = 0; i < 2; i++) {
      const { res, json } = await post(exchange())
      expect(res.status).toBe(429)
      expect(res.headers.get('retry-after')).toBe('2')
      expect(res.headers.get('x-ratelimit-reset')).toBe('1800000002')
      expect(json).toEqual({ error: 'too_many_requests', error_description: 'slow' })
    }
    expect((await post(exchange())).res.status).toBe(200)
  })

  it('replaces the success answer with a custom 200 body', async () => {
    emu.inject({
      status: 200,
      body: { access_token: 'x', token_type: 'mac', expires_in: 1, scope: 'repo:write admin' },
    })
    const { res, json } = await post(exchange({ scope: 'repo:read' }))
    expect(res.status).toBe(200)
    expect(json).toEqual({ access_token: 'x', token_type: 'mac', expires_in: 1, scope: 'repo:write admin' })
  })

  it('answers a malformed body with a JSON content type', async () => {
    emu.inject({ malformed: true })
    const res = await fetch(`${emu.url}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams(exchange()),
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    await expect(res.json()).rejects.toThrow()
  })

  it('resets the connection without an answer', async () => {
    emu.inject({ reset: true })
    await expect(post(exchange())).rejects.toThrow()
    expect(emu.requests.at(-1)?.status).toBe(0)
    expect((await post(exchange())).res.status).toBe(200)
  })

  it('delays by latencyMs, then handles normally', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      emu.inject({ latencyMs: 30_000 })
      let settled = false
      const pending = post(exchange()).finally(() => {
        settled = true
      })
      for (let i = 0; i < 50 && emu.requests.length === 0; i++) await new Promise((r) => setImmediate(r))
      for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r))
      expect(settled).toBe(false)
      let advanced = 0
      while (!settled && advanced < 60_000) {
        await vi.advanceTimersByTimeAsync(1_000)
        advanced += 1_000
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
      }
      expect(advanced).toBeGreaterThanOrEqual(30_000)
      const { res } = await pending
      expect(res.status).toBe(200)
    } finally {
      vi.useRealTimers()
    }
  })

  it('clearFaults() drops queued faults', async () => {
    emu.inject({ status: 500, times: 5 })
    emu.clearFaults()
    expect((await post(exchange())).res.status).toBe(200)
  })

  it('rejects a non-positive times', () => {
    expect(() => emu.inject({ status: 500, times: 0 })).toThrow(TypeError)
  })
})

describe('close()', () => {
  it('closes promptly with a keep-alive connection open and a hung response pending', async () => {
    const target = await startTokenVaultEmulator(options())
    const agent = new Agent({ keepAlive: true })
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${target.url}/oauth/token`,
        { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end(new URLSearchParams(exchange()).toString())
    })
    expect(status).toBe(200)
    const [socket] = Object.values(agent.freeSockets).flat()
    expect(socket).toBeDefined()
    const socketClosed = new Promise<void>((r) => socket?.once('close', () => r()))

    target.inject({ latencyMs: 3_600_000 })
    const hung = fetch(`${target.url}/oauth/token`, { method: 'POST', body: new URLSearchParams(exchange()) })
    while (target.requests.length < 2) await new Promise((r) => setTimeout(r, 2))

    await target.close()
    await socketClosed
    await expect(hung).rejects.toThrow()
    await target.close()
    agent.destroy()
  })
})

describe('request log', () => {
  it('records method, path, grant, connection, scope and status, and never a secret', async () => {
    await post(exchange({ scope: 'repo:read' }))
    await post(exchange({ subject_token: AT, subject_token_type: AT_TYPE }), { json: true })
    const { client_id: _i, client_secret: _s, ...rest } = exchange()
    await post(rest, { basic: ['odd:id', ODD_SECRET] })
    await post(exchange({ client_secret: 'wrong' }))
    const hint = JSON.stringify({ format: 'iss_sub', iss: `${emu.url}/`, sub: 'auth0|alice' })
    const bc = await post(
      { ...auth, scope: 'openid', login_hint: hint, binding_message: 'ok' },
      { path: '/bc-authorize' },
    )
    emu.approve(bc.json.auth_req_id as string)
    await post({ grant_type: CIBA, auth_req_id: bc.json.auth_req_id as string, ...auth })
    await fetch(`${emu.url}/oauth/token?client_secret=${SECRET}&subject_token=${RT}`, { method: 'POST' })

    const log = emu.requests
    expect(log[0]).toEqual({
      method: 'POST',
      path: '/oauth/token',
      grantType: GRANT,
      connection: 'github',
      scope: 'repo:read',
      status: 200,
      at: clock,
    })
    expect(log.map((r) => r.status)).toEqual([200, 200, 200, 401, 200, 200, 400])
    expect(log.at(-1)?.path).toBe('/oauth/token')
    const printed = [
      JSON.stringify(log),
      inspect(log, { depth: 10 }),
      inspect(emu, { depth: 10 }),
      JSON.stringify(emu),
    ]
    for (const text of printed) {
      for (const canary of CANARIES) expect(text).not.toContain(canary)
      expect(text).not.toContain(String(bc.json.auth_req_id))
    }
    log.pop()
    expect(emu.requests).toHaveLength(7)
  })
})
