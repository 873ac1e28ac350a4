import { describe, expect, it } from 'vitest'
import { TokenVaultExchangeError } from '../errors.js'
import { resolveAuth0Config } from './config.js'
import { FEDERATED_ACCESS_TOKEN_TYPE, processTokenVaultExchangeResponse } from './token-vault-client.js'

const config = resolveAuth0Config({
  domain: 'tenant.example.auth0.com',
  clientId: 'cid',
  clientSecret: 'cs_secret_1234',
})
const NOW = 1_700_000_000_000

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  })
}

function process(response: Response, scopes: readonly string[] = ['repo:read']) {
  return processTokenVaultExchangeResponse(config, response, {
    scopes,
    secrets: ['rt_subject_token'],
    now: NOW,
  })
}

async function failure(response: Response): Promise<TokenVaultExchangeError> {
  const err = await process(response).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TokenVaultExchangeError)
  return err as TokenVaultExchangeError
}

const OK = {
  access_token: 'gho_provider_token',
  expires_in: 1377,
  scope: 'repo:read read:user',
  token_type: 'Bearer',
  issued_token_type: FEDERATED_ACCESS_TOKEN_TYPE,
}

describe('processTokenVaultExchangeResponse: success', () => {
  it('parses a 200: scope string to array, expires_in to expiresAt, token non-enumerable', async () => {
    const r = await process(json(200, OK))
    expect(r.accessToken).toBe('gho_provider_token')
    expect(r).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 1377,
      expiresAt: NOW + 1_377_000,
      scope: ['repo:read', 'read:user'],
      scopeReturned: true,
      issuedTokenType: FEDERATED_ACCESS_TOKEN_TYPE,
    })
    expect(Object.keys(r)).not.toContain('accessToken')
    expect(JSON.stringify(r)).not.toContain('gho_provider_token')
  })

  it('keeps the requested scopes when the answer has no scope (RFC 6749 §5.1)', async () => {
    const { scope: _s, ...noScope } = OK
    const r = await process(json(200, noScope), ['a', 'b'])
    expect(r.scope).toEqual(['a', 'b'])
    expect(r.scopeReturned).toBe(false)
  })

  it('accepts token_type in any case and ignores extra fields', async () => {
    const r = await process(json(200, { ...OK, token_type: 'bEaReR', extra: { nested: true } }))
    expect(r.tokenType).toBe('Bearer')
    expect(Object.keys(r)).not.toContain('extra')
  })
})

describe('processTokenVaultExchangeResponse: refused successes', () => {
  it.each([
    ['token_type DPoP', { ...OK, token_type: 'DPoP' }, /token_type/],
    ['token_type mac', { ...OK, token_type: 'mac' }, /token_type/],
    ['missing access_token', { ...OK, access_token: undefined }, /access_token/],
    ['numeric access_token', { ...OK, access_token: 42 }, /access_token/],
    ['string expires_in', { ...OK, expires_in: '3600' }, /expires_in/],
    ['missing expires_in', { ...OK, expires_in: undefined }, /expires_in/],
    ['negative expires_in', { ...OK, expires_in: -1 }, /expires_in/],
    ['array scope', { ...OK, scope: ['repo:read'] }, /scope/],
    ['other issued_token_type', { ...OK, issued_token_type: 'urn:x' }, /issued_token_type/],
  ])('%s', async (_name, body, reason) => {
    const err = await failure(json(200, body))
    expect(err).toMatchObject({ status: 200, error: 'invalid_response', retryable: false })
    expect(err.errorDescription).toMatch(reason)
  })

  it.each([
    ['a JSON array', '[1]'],
    ['non-JSON', 'not json'],
    ['an empty body', ''],
    ['HTML', '<html><body>ok</body></html>'],
  ])('200 with %s', async (_name, body) => {
    const err = await failure(new Response(body, { status: 200, headers: { 'content-type': 'text/html' } }))
    expect(err).toMatchObject({ status: 200, error: 'invalid_response', retryable: false })
  })
})

describe('processTokenVaultExchangeResponse: Auth0 errors', () => {
  it('401 federated_connection_refresh_token_not_found', async () => {
    const err = await failure(
      json(401, {
        error: 'federated_connection_refresh_token_not_found',
        error_description: 'Federated connection Refresh Token not found.',
      }),
    )
    expect(err).toMatchObject({
      code: 'ERR_TOKEN_VAULT_EXCHANGE',
      status: 401,
      error: 'federated_connection_refresh_token_not_found',
      errorDescription: 'Federated connection Refresh Token not found.',
      retryable: false,
    })
    expect(err.message).toContain('federated_connection_refresh_token_not_found')
  })

  it('401 with a WWW-Authenticate challenge still keeps the body error', async () => {
    const err = await failure(
      json(
        401,
        { error: 'invalid_client', error_description: 'Unauthorized' },
        { 'www-authenticate': 'Basic realm="x"' },
      ),
    )
    expect(err).toMatchObject({ status: 401, error: 'invalid_client', retryable: false })
  })

  it.each([
    [403, 'invalid_grant', 'Unknown or invalid refresh token.'],
    [403, 'unauthorized_client', 'Client is not allowed to perform the exchange'],
    [400, 'invalid_request', 'Missing required parameter: connection'],
  ])('%i %s is not retryable', async (status, error, description) => {
    const err = await failure(json(status, { error, error_description: description }))
    expect(err).toMatchObject({ status, error, errorDescription: description, retryable: false })
  })

  it('429 with Retry-After is retryable and keeps the body error', async () => {
    const err = await failure(
      json(
        429,
        { error: 'too_many_requests', error_description: 'Global limit reached' },
        { 'retry-after': '2' },
      ),
    )
    expect(err).toMatchObject({ status: 429, error: 'too_many_requests', retryable: true })
  })

  it('429 with only x-ratelimit-reset and no body', async () => {
    const err = await failure(
      new Response(null, { status: 429, headers: { 'x-ratelimit-reset': '1700000002' } }),
    )
    expect(err).toMatchObject({ status: 429, error: 'too_many_requests', retryable: true })
  })

  it.each([500, 502, 503, 504])('%i is retryable', async (status) => {
    const err = await failure(json(status, { error: 'server_error', error_description: 'boom' }))
    expect(err).toMatchObject({ status, error: 'server_error', errorDescription: 'boom', retryable: true })
  })

  it('503 with an HTML body', async () => {
    const err = await failure(
      new Response('<html><h1>503 Service Unavailable</h1></html>', {
        status: 503,
        headers: { 'content-type': 'text/html' },
      }),
    )
    expect(err).toMatchObject({
      status: 503,
      error: 'server_error',
      errorDescription: undefined,
      retryable: true,
    })
    expect(err.message).toContain('text/html')
    expect(err.message).not.toContain('<h1>')
  })

  it('4xx with a non-JSON body', async () => {
    const err = await failure(
      new Response('nope', { status: 400, headers: { 'content-type': 'text/plain' } }),
    )
    expect(err).toMatchObject({ status: 400, error: 'invalid_response', retryable: false })
  })

  it('401 with an empty body', async () => {
    const err = await failure(new Response('', { status: 401 }))
    expect(err).toMatchObject({ status: 401, error: 'invalid_response', retryable: false })
    expect(err.message).toContain('empty body')
  })

  it('error JSON served as text/plain is still read', async () => {
    const err = await failure(
      new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'x' }), {
        status: 403,
        headers: { 'content-type': 'text/plain' },
      }),
    )
    expect(err).toMatchObject({ status: 403, error: 'invalid_grant' })
  })

  it('bounds and cleans upstream text (length, control characters)', async () => {
    const err = await failure(
      json(400, {
        error: 'bad\nerror\u0000code'.repeat(20),
        error_description: `line1\r\nline2 ${'x'.repeat(5000)}`,
      }),
    )
    expect(err.error.length).toBeLessThanOrEqual(64)
    expect(err.errorDescription?.length).toBeLessThanOrEqual(256)
    expect(err.error).not.toMatch(/[\r\n\u0000]/)
    expect(err.errorDescription).not.toMatch(/[\r\n]/)
    expect(err.message).not.toMatch(/[\r\n]/)
  })

  it('refuses a body over 64 KiB without reading it all', async () => {
    const err = await failure(
      new Response(`{"error":"x","error_description":"${'a'.repeat(70_000)}"}`, {
        status: 400,
        headers: { 'content-type': 'application/json' },
      }),
    )
    expect(err).toMatchObject({ status: 400, error: 'invalid_response' })
    expect(err.message).toContain('65536')
  })

  it('ignores a non-string error_description', async () => {
    const err = await failure(json(400, { error: 'invalid_request', error_description: { nested: 1 } }))
    expect(err).toMatchObject({ status: 400, error: 'invalid_request', errorDescription: undefined })
  })

  it('refuses a 200 over 64 KiB', async () => {
    const err = await failure(json(200, { ...OK, padding: 'p'.repeat(70_000) }))
    expect(err).toMatchObject({ status: 200, error: 'invalid_response', retryable: false })
    expect(err.message).toContain('65536')
  })

  it('redacts echoed secrets from error and error_description', async () => {
    const err = await failure(
      json(401, {
        error: 'rt_subject_token',
        error_description: 'bad secret cs_secret_1234 for token rt_subject_token',
      }),
    )
    expect(err.error).toBe('[REDACTED]')
    expect(err.errorDescription).toBe('bad secret [REDACTED] for token [REDACTED]')
  })

  it('redacts token-like runs the client never sent (it cannot know them by value)', async () => {
    const err = await failure(
      json(400, {
        error: 'invalid_request',
        error_description:
          'token gho_16C7e42F292c6912E7710c838347Ae178B4a was rejected for federated_connection_refresh_token_not_found',
      }),
    )
    expect(err.errorDescription).toBe(
      'token [REDACTED] was rejected for federated_connection_refresh_token_not_found',
    )
  })
})
