import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ConfigurationError } from '../errors.js'
import { Auth0Config, resolveAuth0Config } from './config.js'

const SECRET = 'canary-client-secret-0123456789'
const env = { AUTH0_DOMAIN: 'tenant.eu.auth0.com', AUTH0_CLIENT_ID: 'client-1', AUTH0_CLIENT_SECRET: SECRET }

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError)
    return err as ConfigurationError
  }
  throw new Error('expected a ConfigurationError')
}

describe('resolveAuth0Config', () => {
  it('reads the environment; a bare domain means https', () => {
    const c = resolveAuth0Config({}, env)
    expect(c).toBeInstanceOf(Auth0Config)
    expect(c.origin).toBe('https://tenant.eu.auth0.com')
    expect(c.domain).toBe('tenant.eu.auth0.com')
    expect(c.issuer).toBe('https://tenant.eu.auth0.com/')
    expect(c.clientId).toBe('client-1')
    expect(c.clientAuth).toBe('client_secret_post')
    expect(c.insecure).toBe(false)
  })

  it('explicit options win over the environment', () => {
    const c = resolveAuth0Config(
      { domain: 'https://other.auth0.com/', clientAuth: 'client_secret_basic' },
      env,
    )
    expect(c.origin).toBe('https://other.auth0.com')
    expect(c.clientAuth).toBe('client_secret_basic')
  })

  it.each(['http://127.0.0.1:4010', 'http://127.8.9.10', 'http://localhost:3000/', 'http://[::1]:8080'])(
    'accepts plain http for loopback %s',
    (domain) => {
      const c = resolveAuth0Config({ domain }, env)
      expect(c.origin.startsWith('http://')).toBe(true)
      expect(c.insecure).toBe(true)
      expect(c.issuer).toBe(`${c.origin}/`)
    },
  )

  it.each(['http://tenant.auth0.com', 'http://10.0.0.1', 'http://128.0.0.1', 'http://localhost.evil.com'])(
    'refuses plain http for %s',
    (domain) => {
      const err = configError(() => resolveAuth0Config({ domain }, env))
      expect(err.message).toMatch(/http.*loopback/)
      expect(err.code).toBe('ERR_CONFIGURATION')
    },
  )

  it.each([
    'ftp://tenant.auth0.com',
    'https://tenant.auth0.com/path',
    'https://user:pw@tenant.auth0.com',
    'https://tenant.auth0.com?x=1',
    'not a domain',
  ])('refuses %s', (domain) => {
    configError(() => resolveAuth0Config({ domain }, env))
  })

  it.each([
    ['AUTH0_DOMAIN', 'domain'],
    ['AUTH0_CLIENT_ID', 'clientId'],
    ['AUTH0_CLIENT_SECRET', 'clientSecret'],
  ])('names the missing %s', (variable) => {
    const partial: Record<string, string> = { ...env }
    delete partial[variable]
    const err = configError(() => resolveAuth0Config({}, partial))
    expect(err.message).toContain(variable)
    const blank = configError(() => resolveAuth0Config({}, { ...env, [variable]: '  ' }))
    expect(blank.message).toContain(variable)
  })

  it('refuses an unknown clientAuth', () => {
    configError(() => resolveAuth0Config({ clientAuth: 'private_key_jwt' as never }, env))
  })

  it('returns an Auth0Config given one', () => {
    const c = resolveAuth0Config({}, env)
    expect(resolveAuth0Config(c)).toBe(c)
  })

  it('never shows the client secret', () => {
    const c = resolveAuth0Config({}, env)
    expect(JSON.stringify(c)).not.toContain(SECRET)
    expect(inspect(c, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(SECRET)
    expect(String(Object.values(c))).not.toContain(SECRET)
    expect(
      Reflect.ownKeys(c).map((k) => String((c as unknown as Record<PropertyKey, unknown>)[k])),
    ).not.toContain(SECRET)
    expect({ ...c }).not.toHaveProperty('clientSecret')
  })

  it('never quotes a secret-looking value at length in an error', () => {
    const err = configError(() =>
      resolveAuth0Config({ domain: `http://${'s'.repeat(200)}.example.com` }, env),
    )
    expect(err.message.length).toBeLessThan(300)
    expect(err.message).not.toContain(SECRET)
  })
})
