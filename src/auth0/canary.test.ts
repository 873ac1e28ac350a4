/**
 * Canary secrets (client secret, refresh token, access token) never appear in any error: not in
 * its message, stack, JSON, util.inspect output, or anywhere along its cause chain, even when the
 * server echoes them back.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../emulator/index.js'
import { TokenVaultExchangeError } from '../errors.js'
import { CibaApprover } from '../step-up/ciba-approver.js'
import { CibaClient } from './ciba-client.js'
import { type Auth0Config, resolveAuth0Config } from './config.js'
import { TokenVaultClient } from './token-vault-client.js'
import type { TokenVaultExchangeParams } from './types.js'

const CLIENT_SECRET = 'CANARY+client/secret=7f3a9&x'
const REFRESH_TOKEN = 'CANARY_refresh_token_91b2c'
const ACCESS_TOKEN = 'CANARY_access_token_55d0e'
const CLIENT_ID = 'canary-app'
const CANARIES = [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN]

const forms = (s: string) => [
  s,
  encodeURIComponent(s),
  new URLSearchParams({ s }).toString().slice(2),
  Buffer.from(s).toString('base64'),
]
const BASIC = [
  Buffer.from(`${CLIENT_ID}:${new URLSearchParams({ s: CLIENT_SECRET }).toString().slice(2)}`).toString(
    'base64',
  ),
  Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64'),
]
const NEEDLES = [...CANARIES.flatMap(forms), ...BASIC, 'CANARY']

function texts(err: unknown): string[] {
  const out: string[] = []
  let e: unknown = err
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    out.push(
      String(e),
      inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: false }),
      inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      JSON.stringify(e) ?? '',
    )
    if (e instanceof Error)
      out.push(e.message, e.stack ?? '', JSON.stringify(Object.getOwnPropertyDescriptors(e)))
    e = (e as { cause?: unknown }).cause
  }
  return out
}

function expectClean(err: unknown): void {
  expect(err).toBeInstanceOf(TokenVaultExchangeError)
  for (const text of texts(err)) {
    for (const needle of NEEDLES) {
      if (text.includes(needle))
        throw new Error(`leaked ${JSON.stringify(needle)} in:\n${text.slice(0, 2000)}`)
    }
  }
}

const catchErr = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure')
    },
    (e: unknown) => e,
  )

const ECHO = `client_secret=${CLIENT_SECRET} ${encodeURIComponent(CLIENT_SECRET)} refresh=${REFRESH_TOKEN} access=${ACCESS_TOKEN} basic=${BASIC.join(' ')}`

describe('canaries against the emulator', () => {
  let emu: TokenVaultEmulator
  beforeEach(async () => {
    emu = await startTokenVaultEmulator({
      clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
      users: [
        {
          userId: 'auth0|c',
          refreshToken: REFRESH_TOKEN,
          accessToken: ACCESS_TOKEN,
          connections: { github: ['a'] },
        },
      ],
    })
  })
  afterEach(async () => {
    await emu.close()
    vi.useRealTimers()
  })

  const cfg = (
    clientAuth: 'client_secret_post' | 'client_secret_basic' = 'client_secret_post',
  ): Auth0Config =>
    resolveAuth0Config({ domain: emu.url, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, clientAuth }, {})
  const client = (clientAuth?: 'client_secret_post' | 'client_secret_basic') =>
    new TokenVaultClient(cfg(clientAuth), { maxRetries: 0, timeoutMs: 2000 })
  const params = (subject: 'refresh_token' | 'access_token' = 'refresh_token'): TokenVaultExchangeParams => ({
    subjectToken: subject === 'refresh_token' ? REFRESH_TOKEN : ACCESS_TOKEN,
    subjectTokenType: subject,
    connection: 'github',
    scopes: ['a'],
  })

  const faults: [string, Parameters<TokenVaultEmulator['inject']>[0]][] = [
    [
      '401 echoing in error and error_description',
      { status: 401, body: { error: ECHO, error_description: ECHO } },
    ],
    ['429 echoing', { status: 429, body: { error: 'too_many_requests', error_description: ECHO } }],
    [
      '500 HTML echoing',
      { status: 500, body: `<html>${ECHO}</html>`, headers: { 'content-type': 'text/html' } },
    ],
    ['400 malformed JSON echoing', { status: 400, body: `{"error":"x","error_description":"${ECHO}` }],
    ['200 non-JSON echoing', { status: 200, body: ECHO }],
    [
      '200 bad token_type',
      { status: 200, body: { access_token: ACCESS_TOKEN, token_type: 'mac', expires_in: 1 } },
    ],
    [
      '200 string expires_in',
      { status: 200, body: { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: '1' } },
    ],
    [
      '200 DPoP',
      { status: 200, body: { access_token: ACCESS_TOKEN, token_type: 'DPoP', expires_in: 1, x: ECHO } },
    ],
    ['400 oversized echo', { status: 400, body: { error: 'x', error_description: ECHO.repeat(2000) } }],
    ['400 no error field', { status: 400, body: { message: ECHO } }],
  ]

  for (const auth of ['client_secret_post', 'client_secret_basic'] as const) {
    it.each(faults)(`${auth}: %s`, async (_name, fault) => {
      emu.inject({ path: '/oauth/token', ...fault })
      expectClean(await catchErr(client(auth).exchange(params())))
      emu.inject({ path: '/oauth/token', ...fault })
      expectClean(await catchErr(client(auth).exchange(params('access_token'))))
    })
  }

  it('real emulator errors (bad secret, invalid_scope) are clean', async () => {
    const wrong = new TokenVaultClient(
      resolveAuth0Config(
        { domain: emu.url, clientId: CLIENT_ID, clientSecret: `${CLIENT_SECRET}-wrong` },
        {},
      ),
    )
    expectClean(await catchErr(wrong.exchange(params())))
    expectClean(await catchErr(client().exchange({ ...params(), scopes: ['zzz'] })))
  })

  it('a reset connection and a timeout are clean', async () => {
    emu.inject({ path: '/oauth/token', reset: true })
    expectClean(await catchErr(client().exchange(params())))
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    emu.inject({ path: '/oauth/token', latencyMs: 60_000 })
    const p = catchErr(client().exchange(params()))
    await vi.advanceTimersByTimeAsync(2000)
    const err = await p
    expect(err).toMatchObject({ error: 'timeout' })
    expectClean(err)
  })

  it('CIBA errors echoing the secret are clean', async () => {
    for (const auth of ['client_secret_post', 'client_secret_basic'] as const) {
      emu.inject({ path: '/bc-authorize', status: 400, body: { error: ECHO, error_description: ECHO } })
      const ciba = new CibaClient(cfg(auth), { maxRetries: 0 })
      expectClean(await catchErr(ciba.authorize({ userId: 'auth0|c', bindingMessage: 'x' })))
      emu.inject({ path: '/bc-authorize', status: 200, body: ECHO })
      expectClean(await catchErr(ciba.authorize({ userId: 'auth0|c', bindingMessage: 'x' })))
      const approver = new CibaApprover({ auth0: cfg(auth), client: { maxRetries: 0 } })
      emu.inject({ path: '/bc-authorize', status: 500, body: `<html>${ECHO}</html>` })
      const req = {
        id: 's',
        agentId: 'a',
        role: 'R',
        connection: 'github',
        scopes: ['a'],
        userId: 'auth0|c',
        bindingMessage: 'm',
        expiresAt: Date.now() + 60_000,
      }
      expectClean(await catchErr(approver.requestApproval(req)))
    }
  })
})

describe('canaries in the objects themselves', () => {
  it('clients, approver and config never show the client secret', () => {
    const config = resolveAuth0Config(
      { domain: 'tenant.auth0.com', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      {},
    )
    const objects = [
      config,
      new TokenVaultClient(config),
      new CibaClient(config),
      new CibaApprover({ auth0: config }),
      new CibaApprover({
        auth0: { domain: 'tenant.auth0.com', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      }),
    ]
    for (const o of objects) {
      for (const text of [
        inspect(o, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
        JSON.stringify(o) ?? '',
        String(Object.entries(o)),
      ]) {
        for (const needle of NEEDLES) expect(text).not.toContain(needle)
      }
    }
  })
})

describe('canaries against a server that echoes the whole request', () => {
  let server: Server
  let origin: string
  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = ''
      req.on('data', (c: Buffer) => {
        raw += c.toString()
      })
      req.on('end', () => {
        const echo = `${raw} ${req.headers.authorization ?? ''} ${decodeURIComponent(raw)}`
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'invalid_request', error_description: echo }))
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it.each(['client_secret_post', 'client_secret_basic'] as const)('%s', async (clientAuth) => {
    const config = resolveAuth0Config(
      { domain: origin, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, clientAuth },
      {},
    )
    const err = await catchErr(
      new TokenVaultClient(config).exchange({
        subjectToken: REFRESH_TOKEN,
        subjectTokenType: 'refresh_token',
        connection: 'github',
        scopes: ['a'],
      }),
    )
    expectClean(err)
    // the echo was kept, with the secrets cut out
    expect((err as TokenVaultExchangeError).errorDescription).toContain('[REDACTED]')
    expect((err as TokenVaultExchangeError).errorDescription).toContain('connection=github')
  })
})
