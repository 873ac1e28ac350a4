/**
 * CibaClient processing on constructed Responses (injected fetch, no network).
 */
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { TokenVaultExchangeError } from '../errors.js'
import { CibaClient } from './ciba-client.js'
import { resolveAuth0Config } from './config.js'

const config = resolveAuth0Config(
  { domain: 'tenant.auth0.com', clientId: 'cid', clientSecret: 'ciba-secret-1' },
  {},
)

function clientAnswering(status: number, body: unknown, headers: Record<string, string> = {}) {
  const fetch = (async () =>
    new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', ...headers },
    })) as unknown as typeof globalThis.fetch
  return new CibaClient(config, { fetch, maxRetries: 0 })
}

const AUTH = { authReqId: 'req-1' }

describe('CibaClient.authorize processing', () => {
  it('parses auth_req_id, expires_in, interval; defaults interval to 5', async () => {
    const a = await clientAnswering(200, { auth_req_id: 'r', expires_in: 120, interval: 3 }).authorize({
      userId: 'u',
      bindingMessage: 'm',
    })
    expect(a).toMatchObject({ expiresIn: 120, interval: 3 })
    expect(a.expiresAt - Date.now()).toBeGreaterThan(119_000)
    expect(Object.keys(a)).not.toContain('authReqId')
    expect(inspect(a)).not.toContain("'r'")
    const b = await clientAnswering(200, { auth_req_id: 'r', expires_in: 120 }).authorize({
      userId: 'u',
      bindingMessage: 'm',
    })
    expect(b.interval).toBe(5)
  })

  it.each([
    ['missing auth_req_id', { expires_in: 120 }, /auth_req_id/],
    ['string expires_in', { auth_req_id: 'r', expires_in: '120' }, /expires_in/],
    ['zero interval', { auth_req_id: 'r', expires_in: 120, interval: 0 }, /interval/],
  ])('refuses a success with %s', async (_n, body, reason) => {
    const err = await clientAnswering(200, body)
      .authorize({ userId: 'u', bindingMessage: 'm' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenVaultExchangeError)
    expect(err).toMatchObject({ status: 200, error: 'invalid_response' })
    expect((err as TokenVaultExchangeError).errorDescription).toMatch(reason)
  })

  it('keeps Auth0 errors', async () => {
    const err = await clientAnswering(400, { error: 'invalid_binding_message', error_description: 'bad' })
      .authorize({ userId: 'u', bindingMessage: 'm' })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({
      status: 400,
      error: 'invalid_binding_message',
      errorDescription: 'bad',
      retryable: false,
    })
  })
})

describe('CibaClient.poll processing', () => {
  it.each([
    [400, 'authorization_pending', { status: 'pending' }],
    [401, 'authorization_pending', { status: 'pending' }],
    [400, 'slow_down', { status: 'slow_down' }],
    [400, 'access_denied', { status: 'denied', errorDescription: 'no' }],
    [400, 'expired_token', { status: 'expired' }],
  ])('%i %s', async (status, error, expected) => {
    expect(await clientAnswering(status, { error, error_description: 'no' }).poll(AUTH)).toMatchObject(
      expected,
    )
  })

  it('other errors are thrown', async () => {
    const err = await clientAnswering(400, {
      error: 'invalid_grant',
      error_description: 'Invalid or expired auth_req_id',
    })
      .poll(AUTH)
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 400, error: 'invalid_grant' })
  })

  it('an approval without ID token is approved with no subject, and the tokens are not returned', async () => {
    const r = await clientAnswering(200, {
      access_token: 'ciba-at-secret',
      token_type: 'Bearer',
      expires_in: 60,
    }).poll(AUTH)
    expect(r).toEqual({ status: 'approved', subject: undefined })
  })

  it('a malformed approval is refused', async () => {
    const err = await clientAnswering(200, 'not json')
      .poll(AUTH)
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 200, error: 'invalid_response' })
  })

  it('the client never shows its secret', () => {
    const c = clientAnswering(200, {})
    expect(inspect(c, { showHidden: true, depth: Number.POSITIVE_INFINITY })).not.toContain('ciba-secret-1')
    expect(JSON.stringify(c)).not.toContain('ciba-secret-1')
  })
})
