/**
 * What goes on the wire, checked with a plain recording HTTP server (not the emulator).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { CibaApprover } from '../step-up/ciba-approver.js'
import { CibaClient } from './ciba-client.js'
import { resolveAuth0Config } from './config.js'
import { sleep } from './http.js'
import { TokenVaultClient } from './token-vault-client.js'

interface Recorded {
  method: string
  path: string
  headers: IncomingHttpHeaders
  form: Record<string, string>
  raw: string
}

/** Spins the real event loop (fake timers stand still) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200_000; i++) {
    if (cond()) return
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('condition not met')
}

const recorded: Recorded[] = []
let answers: { status: number; body: unknown }[] = []
let server: Server
let origin: string

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => {
      raw += c
    })
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(raw))
      recorded.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, form, raw })
      const answer = answers.shift() ?? { status: 500, body: { error: 'no_answer' } }
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(answer.body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

afterEach(() => {
  recorded.length = 0
  answers = []
  vi.useRealTimers()
})

const TOKEN_OK = {
  access_token: 'provider-token',
  expires_in: 60,
  scope: 'repo:read read:user',
  token_type: 'Bearer',
  issued_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
}

function config(clientAuth: 'client_secret_post' | 'client_secret_basic' = 'client_secret_post') {
  return resolveAuth0Config(
    { domain: origin, clientId: 'client:1', clientSecret: 's3cret+/=', clientAuth },
    {},
  )
}

describe('Token Vault exchange on the wire', () => {
  it('sends exactly the DESIGN §7 form with client_secret_post', async () => {
    answers.push({ status: 200, body: TOKEN_OK })
    const client = new TokenVaultClient(config())
    const res = await client.exchange({
      subjectToken: 'rt_abc',
      subjectTokenType: 'refresh_token',
      connection: 'github',
      scopes: ['repo:read', 'read:user'],
      loginHint: 'octocat',
    })
    expect(res.scope).toEqual(['repo:read', 'read:user'])
    expect(recorded).toHaveLength(1)
    const r = recorded[0]!
    expect(r.method).toBe('POST')
    expect(r.path).toBe('/oauth/token')
    expect(r.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/)
    expect(r.headers.accept).toBe('application/json')
    expect(r.headers.authorization).toBeUndefined()
    expect(r.form).toEqual({
      grant_type: 'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token',
      subject_token: 'rt_abc',
      subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
      requested_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
      connection: 'github',
      scope: 'repo:read read:user',
      login_hint: 'octocat',
      client_id: 'client:1',
      client_secret: 's3cret+/=',
    })
    // space-separated scope, form-encoded
    expect(r.raw).toContain('scope=repo%3Aread+read%3Auser')
  })

  it('sends HTTP Basic (RFC 6749 §2.3.1 encoding) and no secret in the body with client_secret_basic', async () => {
    answers.push({ status: 200, body: TOKEN_OK })
    const client = new TokenVaultClient(config('client_secret_basic'))
    await client.exchange({
      subjectToken: 'at_abc',
      subjectTokenType: 'access_token',
      connection: 'google-oauth2',
      scopes: ['openid'],
    })
    const r = recorded[0]!
    expect(r.form).toEqual({
      grant_type: 'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token',
      subject_token: 'at_abc',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
      connection: 'google-oauth2',
      scope: 'openid',
    })
    const basic = r.headers.authorization ?? ''
    expect(basic.startsWith('Basic ')).toBe(true)
    const [user, pass] = Buffer.from(basic.slice(6), 'base64').toString().split(':')
    expect(decodeURIComponent(user!.replace(/\+/g, ' '))).toBe('client:1')
    expect(decodeURIComponent(pass!.replace(/\+/g, ' '))).toBe('s3cret+/=')
  })

  it('omits login_hint when not given', async () => {
    answers.push({ status: 200, body: TOKEN_OK })
    await new TokenVaultClient(config()).exchange({
      subjectToken: 'rt_abc',
      subjectTokenType: 'refresh_token',
      connection: 'github',
      scopes: ['repo:read'],
    })
    expect(recorded[0]!.form).not.toHaveProperty('login_hint')
  })
})

describe('CIBA on the wire', () => {
  it('bc-authorize and the poll carry the expected fields', async () => {
    answers.push({ status: 200, body: { auth_req_id: 'req-1', expires_in: 120, interval: 2 } })
    answers.push({ status: 400, body: { error: 'authorization_pending', error_description: 'pending' } })
    const client = new CibaClient(config())
    const auth = await client.authorize({
      userId: 'auth0|alice',
      bindingMessage: 'builder asks github: repo:write',
      authorizationDetails: [{ type: 'token_vault_scopes', scopes: ['repo:write'] }],
      requestedExpirySeconds: 120,
    })
    expect(auth).toMatchObject({ expiresIn: 120, interval: 2 })
    expect(auth.authReqId).toBe('req-1')
    expect(JSON.stringify(auth)).not.toContain('req-1')
    expect(await client.poll(auth)).toEqual({ status: 'pending' })

    const [authorize, poll] = recorded
    expect(authorize!.path).toBe('/bc-authorize')
    expect(authorize!.form).toEqual({
      scope: 'openid',
      login_hint: JSON.stringify({ format: 'iss_sub', iss: `${origin}/`, sub: 'auth0|alice' }),
      binding_message: 'builder asks github: repo:write',
      authorization_details: JSON.stringify([{ type: 'token_vault_scopes', scopes: ['repo:write'] }]),
      requested_expiry: '120',
      client_id: 'client:1',
      client_secret: 's3cret+/=',
    })
    expect(poll!.path).toBe('/oauth/token')
    expect(poll!.form).toEqual({
      grant_type: 'urn:openid:params:grant-type:ciba',
      auth_req_id: 'req-1',
      client_id: 'client:1',
      client_secret: 's3cret+/=',
    })
  })

  it('CibaApprover sends the RFC 9396 details, a sanitized binding message, and waits the interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    answers.push({ status: 200, body: { auth_req_id: 'req-2', expires_in: 300 } })
    answers.push({ status: 200, body: { access_token: 'ciba-at', token_type: 'Bearer', expires_in: 60 } })
    const delays: number[] = []
    const approver = new CibaApprover({
      auth0: config('client_secret_basic'),
      requestedExpirySeconds: 90,
      client: {
        sleep: (ms, signal) => {
          delays.push(ms)
          return sleep(ms, signal)
        },
      },
    })
    const decided = approver.requestApproval({
      id: 'su-1',
      agentId: 'builder',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
      userId: 'auth0|alice',
      bindingMessage: 'builder asks <github>: repo:write\n',
      expiresAt: Date.now() + 300_000,
    })
    await until(() => delays.length === 1)
    expect(recorded).toHaveLength(1)
    // No interval in the answer: CIBA Core's default of 5 s before the first poll.
    await vi.advanceTimersByTimeAsync(4_999)
    expect(recorded).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    await until(() => recorded.length === 2)
    const decision = await decided
    expect(decision).toMatchObject({ approved: true, approver: { id: 'auth0|alice' } })
    expect(JSON.stringify(decision)).not.toContain('ciba-at')

    const form = recorded[0]!.form
    expect(form.binding_message).toBe('builder asks _github_: repo:write_')
    expect(form.scope).toBe('openid')
    expect(form.requested_expiry).toBe('90')
    expect(JSON.parse(form.login_hint!)).toEqual({ format: 'iss_sub', iss: `${origin}/`, sub: 'auth0|alice' })
    expect(JSON.parse(form.authorization_details!)).toEqual([
      {
        type: 'token_vault_scopes',
        agent_id: 'builder',
        role: 'IMPLEMENTER',
        connection: 'github',
        scopes: ['repo:write'],
      },
    ])
    expect(form).not.toHaveProperty('client_secret')
    expect(recorded[0]!.headers.authorization).toMatch(/^Basic /)
    expect(recorded[1]!.form).toEqual({
      grant_type: 'urn:openid:params:grant-type:ciba',
      auth_req_id: 'req-2',
    })
  })
})
