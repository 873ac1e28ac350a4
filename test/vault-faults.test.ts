import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type AuditEntryInput,
  type TokenAccessAuditEntry,
  TokenAuditLog,
  type TokenAuditLogLike,
} from '../src/audit/index.js'
import {
  AuditWriteError,
  CallbackApprover,
  ConstitutionalTokenVault,
  TokenVaultExchangeError,
} from '../src/index.js'
import { CLIENT, expectNoSecrets, type Harness, harness, read, rejection, write } from './vault-fixtures.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

/** Every exchange that failed upstream: one `error` entry, no `granted` entry, no token. */
async function expectUpstreamError(err: Error, auth0Error: string): Promise<void> {
  expect(err).toBeInstanceOf(TokenVaultExchangeError)
  expect((err as TokenVaultExchangeError).error).toBe(auth0Error)
  const entries = await h!.entries()
  expect(entries.map((e) => e.outcome)).toEqual(['error'])
  expect(entries[0]).toMatchObject({
    errorCode: 'ERR_TOKEN_VAULT_EXCHANGE',
    tokenFingerprint: null,
    grantedScopes: [],
  })
  expectNoSecrets(entries)
}

describe('faults from Auth0', () => {
  it('429 then success: retried, granted', async () => {
    h = await harness()
    h.emulator.inject({ path: '/oauth/token', status: 429, headers: { 'retry-after': '0' } })
    const res = await h.vault.exchange({ ...read })
    expect(res.scope).toEqual(['repo:read'])
    expect(h.tokenRequests().map((r) => r.status)).toEqual([429, 200])
    expect((await h.entries()).map((e) => e.outcome)).toEqual(['granted'])
  })

  it('429 that outlasts the retries: error, not denied_rate_limited', async () => {
    h = await harness({ vault: { client: { maxRetries: 1, retryBaseDelayMs: 1, retryMaxDelayMs: 5 } } })
    h.emulator.inject({ path: '/oauth/token', status: 429, times: 5, headers: { 'retry-after': '0' } })
    const err = await rejection(h.vault.exchange({ ...read }))
    expect((err as TokenVaultExchangeError).status).toBe(429)
    expect((err as TokenVaultExchangeError).retryable).toBe(true)
    await expectUpstreamError(err, (err as TokenVaultExchangeError).error)
  })

  it('repeated 503: bounded retries, then error', async () => {
    h = await harness({ vault: { client: { maxRetries: 2, retryBaseDelayMs: 1, retryMaxDelayMs: 5 } } })
    h.emulator.inject({ path: '/oauth/token', status: 503, times: 10 })
    const err = await rejection(h.vault.exchange({ ...read }))
    expect(err).toMatchObject({ status: 503, retryable: true })
    expect(h.tokenRequests()).toHaveLength(3)
    await expectUpstreamError(err, (err as TokenVaultExchangeError).error)
  })

  it('a hung response hits the timeout', async () => {
    h = await harness({ vault: { client: { timeoutMs: 30, maxRetries: 0 } } })
    h.emulator.inject({ path: '/oauth/token', latencyMs: 60_000 })
    const err = await rejection(h.vault.exchange({ ...read }))
    expect((err as TokenVaultExchangeError).status).toBe(0)
    await expectUpstreamError(err, 'timeout')
  })

  it('a malformed body is refused', async () => {
    h = await harness({ vault: { client: { maxRetries: 0 } } })
    h.emulator.inject({ path: '/oauth/token', malformed: true })
    const err = await rejection(h.vault.exchange({ ...read }))
    await expectUpstreamError(err, (err as TokenVaultExchangeError).error)
  })

  it.each([
    ['no access_token', { token_type: 'Bearer', expires_in: 3600 }],
    [
      'a non-Bearer token_type',
      { access_token: 'gho_dpop_token_abcdef', token_type: 'DPoP', expires_in: 3600 },
    ],
    [
      'a string expires_in',
      { access_token: 'gho_str_expiry_abcdef', token_type: 'Bearer', expires_in: '3600' },
    ],
  ])('a success answer with %s is refused', async (_name, body) => {
    h = await harness()
    h.emulator.inject({ path: '/oauth/token', status: 200, body })
    const err = await rejection(h.vault.exchange({ ...read }))
    await expectUpstreamError(err, (err as TokenVaultExchangeError).error)
    expectNoSecrets(await h.entries(), ['gho_dpop_token_abcdef', 'gho_str_expiry_abcdef'])
  })

  it('a failed upstream call is not cached: the next call asks again', async () => {
    h = await harness({ vault: { client: { maxRetries: 0 } } })
    h.emulator.inject({ path: '/oauth/token', status: 500 })
    await rejection(h.vault.exchange({ ...read }))
    const res = await h.vault.exchange({ ...read })
    expect(res.cached).toBe(false)
    expect(h.tokenRequests().map((r) => r.status)).toEqual([500, 200])
  })
})

/** A log that refuses the outcomes in `failOn` and records everything else in `inner`. */
function failingLog(inner: TokenAuditLog, failOn: ReadonlySet<string>): TokenAuditLogLike {
  return {
    async append(entry: AuditEntryInput): Promise<TokenAccessAuditEntry> {
      if (failOn.has(entry.outcome))
        throw Object.assign(new Error('disk full'), { code: 'ENOSPC', syscall: 'write' })
      return inner.append(entry)
    },
  }
}

describe('an audit store that fails', () => {
  it('the granted entry cannot be written: AuditWriteError, no token', async () => {
    h = await harness()
    const vault = new ConstitutionalTokenVault({
      policy: h.policy,
      audit: failingLog(h.audit, new Set(['granted'])),
      env: {},
      auth0: { domain: h.emulator.url, ...CLIENT },
    })
    const err = await rejection(vault.exchange({ ...read }))
    expect(err).toBeInstanceOf(AuditWriteError)
    expect(JSON.stringify(err)).not.toContain('rt_')
    // Auth0 was asked, but nothing was released and nothing claims it was
    expect(h.tokenRequests()).toHaveLength(1)
    expect((await h.entries()).filter((e) => e.outcome === 'granted')).toEqual([])
  })

  it('a denial that cannot be audited surfaces as AuditWriteError', async () => {
    h = await harness()
    const vault = new ConstitutionalTokenVault({
      policy: h.policy,
      audit: failingLog(h.audit, new Set(['denied_scope_violation'])),
      env: {},
    })
    const err = await rejection(vault.exchange({ ...read, scopes: ['repo:write'] }))
    expect(err).toBeInstanceOf(AuditWriteError)
    expect(h.emulator.requests).toEqual([])
  })

  it('an approval that cannot be audited does not count', async () => {
    h = await harness()
    const approver = new CallbackApprover(() => ({
      approved: true,
      approver: { id: 'judge', role: 'JUDICIAL' },
      decidedAt: Date.now(),
    }))
    const vault = new ConstitutionalTokenVault({
      policy: h.policy,
      audit: failingLog(h.audit, new Set(['step_up_approved'])),
      env: {},
      auth0: { domain: h.emulator.url, ...CLIENT },
      stepUp: { approver },
    })
    const err = await rejection(vault.exchange({ ...write }))
    expect(err).toBeInstanceOf(AuditWriteError)
    expect(h.emulator.requests).toEqual([])
    expect((await h.entries()).map((e) => e.outcome)).toEqual(['step_up_initiated'])
  })

  it('a SQLite audit log that is no longer usable (closed): AuditWriteError, no token', async () => {
    h = await harness()
    const log = await TokenAuditLog.open(`sqlite:${join(h.dir, 'closed.db')}`)
    await log.close()
    const vault = new ConstitutionalTokenVault({
      policy: h.policy,
      audit: log,
      env: {},
      auth0: { domain: h.emulator.url, ...CLIENT },
    })
    const err = await rejection(vault.exchange({ ...read }))
    expect(err).toBeInstanceOf(AuditWriteError)
    const denied = await rejection(vault.exchange({ ...read, scopes: ['repo:write'] }))
    expect(denied).toBeInstanceOf(AuditWriteError)
  })
})
