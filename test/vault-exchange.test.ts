import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { fingerprintToken } from '../src/audit/fingerprint.js'
import {
  ConfigurationError,
  ConstitutionalHashMismatchError,
  ConstitutionalScopeViolation,
  ConstitutionalTokenVault,
  ExcessScopesError,
  InvalidTokenRequestError,
  MACIRoleAssignmentError,
  MACIRoleNotPermittedError,
  MACIScopePolicy,
  RateLimitedError,
  TokenVaultExchangeError,
} from '../src/index.js'
import {
  ALICE,
  AT_ALICE,
  constitution,
  expectNoSecrets,
  HASH,
  type Harness,
  harness,
  RT_ALICE,
  RT_BOB,
  read,
  rejection,
} from './vault-fixtures.js'

let h: Harness | undefined
afterEach(async () => {
  await h?.close()
  h = undefined
})

const FEDERATED = 'http://auth0.com/oauth/token-type/federated-connection-access-token'

describe('vault.exchange: granted', () => {
  it('releases a permitted token after a durable granted entry, and never shows the token', async () => {
    h = await harness({ store: 'sqlite' })
    const res = await h.vault.exchange({ ...read })
    expect(res.accessToken).toEqual(expect.any(String))
    expect(res).toMatchObject({
      tokenType: 'Bearer',
      scope: ['repo:read'],
      connection: 'github',
      cached: false,
      issuedTokenType: FEDERATED,
    })
    expect(res.validation.decision).toBe('allow')
    expect(res.expiresAt).toBeGreaterThan(Date.now())
    expect(Object.keys(res)).not.toContain('accessToken')
    expect(JSON.stringify(res)).not.toContain(res.accessToken)
    expect(inspect(res, { depth: 10 })).not.toContain(res.accessToken)

    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'granted',
      agentId: 'planner',
      role: 'EXECUTIVE',
      connection: 'github',
      toolName: 'list_issues',
      userId: ALICE,
      requestedScopes: ['repo:read'],
      grantedScopes: ['repo:read'],
      excessScopes: [],
      cached: false,
      errorCode: null,
      constitutionalHash: HASH,
      policyDigest: h.policy.policyDigest,
      tokenFingerprint: fingerprintToken(res.accessToken),
    })
    expectNoSecrets(entries, [res.accessToken])
    const sent = h.tokenRequests()
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({ connection: 'github', scope: 'repo:read', status: 200 })
    expect((await h.audit.verify()).ok).toBe(true)
  })

  it('serves a live token from the cache, still validated and audited as granted with cached: true', async () => {
    h = await harness()
    const first = await h.vault.exchange({ ...read })
    const second = await h.vault.exchange({
      ...read,
      scopes: ['repo:read', 'repo:read'],
      toolName: 'other_tool',
    })
    expect(second.accessToken).toBe(first.accessToken)
    expect(second.cached).toBe(true)
    expect(h.tokenRequests()).toHaveLength(1)
    const entries = await h.entries()
    expect(entries.map((e) => [e.outcome, e.cached, e.toolName])).toEqual([
      ['granted', false, 'list_issues'],
      ['granted', true, 'other_tool'],
    ])
    expect(entries[1]?.tokenFingerprint).toBe(fingerprintToken(first.accessToken))
    // a cache hit is still decided for the role asking
    const denied = await rejection(h.vault.exchange({ ...read, agentId: 'builder' }))
    expect(denied).toBeInstanceOf(MACIRoleAssignmentError)
    expect(h.vault.invalidate({ refreshToken: RT_ALICE })).toBe(1)
    const third = await h.vault.exchange({ ...read })
    expect(third.cached).toBe(false)
    expect(h.tokenRequests()).toHaveLength(2)
  })

  it('accepts an Auth0 access token as the subject', async () => {
    h = await harness()
    const res = await h.vault.exchange({ ...read, refreshToken: undefined, accessToken: AT_ALICE })
    expect(res.scope).toEqual(['repo:read'])
    expectNoSecrets(await h.entries(), [res.accessToken])
  })
})

describe('vault.exchange: denials are audited, thrown, and never reach Auth0', () => {
  it('denied_scope_violation', async () => {
    h = await harness()
    const err = await rejection(h.vault.exchange({ ...read, scopes: ['repo:read', 'repo:write'] }))
    expect(err).toBeInstanceOf(ConstitutionalScopeViolation)
    expect((err as ConstitutionalScopeViolation).deniedScopes).toEqual(['repo:write'])
    const [entry, ...rest] = await h.entries()
    expect(rest).toEqual([])
    expect(entry).toMatchObject({
      outcome: 'denied_scope_violation',
      agentId: 'planner',
      requestedScopes: ['repo:read', 'repo:write'],
      deniedScopes: ['repo:write'],
      grantedScopes: [],
      errorCode: 'ERR_SCOPE_VIOLATION',
      tokenFingerprint: null,
    })
    expect(entry?.reasons.some((r) => r.code === 'scope_violation')).toBe(true)
    expectNoSecrets([entry])
    expect(h.emulator.requests).toEqual([])
  })

  it('denied_role_not_permitted', async () => {
    h = await harness()
    const err = await rejection(h.vault.exchange({ ...read, agentId: 'judge', role: 'JUDICIAL' }))
    expect(err).toBeInstanceOf(MACIRoleNotPermittedError)
    expect(err).toMatchObject({ role: 'JUDICIAL', connection: 'github', code: 'ERR_ROLE_NOT_PERMITTED' })
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'denied_role_not_permitted',
      role: 'JUDICIAL',
      errorCode: 'ERR_ROLE_NOT_PERMITTED',
    })
    expectNoSecrets(entries)
    expect(h.emulator.requests).toEqual([])
  })

  it('denied_agent_role', async () => {
    h = await harness()
    const err = await rejection(h.vault.exchange({ ...read, role: 'IMPLEMENTER' }))
    expect(err).toBeInstanceOf(MACIRoleAssignmentError)
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'denied_agent_role',
      agentId: 'planner',
      role: 'IMPLEMENTER',
      errorCode: 'ERR_AGENT_ROLE_NOT_ASSIGNED',
    })
    expectNoSecrets(entries)
    expect(h.emulator.requests).toEqual([])
  })

  it.each([
    ['an empty scope list', { ...read, scopes: [] }],
    ['a scope outside RFC 6749', { ...read, scopes: ['repo read'] }],
    ['no subject token', { ...read, refreshToken: undefined }],
    ['both subject tokens', { ...read, accessToken: AT_ALICE }],
    ['an empty subject token', { ...read, refreshToken: '' }],
  ])('denied_invalid_request: %s', async (_name, request) => {
    h = await harness({ yaml: constitution({ mode: 'shadow' }) })
    const err = await rejection(h.vault.exchange(request))
    expect(err).toBeInstanceOf(InvalidTokenRequestError)
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({ outcome: 'denied_invalid_request', errorCode: 'ERR_INVALID_REQUEST' })
    expectNoSecrets(entries)
    expect(h.emulator.requests).toEqual([])
  })

  it('denied_rate_limited: the constitution’s rate_limit per agent, role and connection', async () => {
    h = await harness({ vault: { cache: false } })
    const slack = { ...read, connection: 'slack', scopes: ['chat:read'] }
    await h.vault.exchange(slack)
    await h.vault.exchange(slack)
    const err = await rejection(h.vault.exchange(slack))
    expect(err).toBeInstanceOf(RateLimitedError)
    expect((err as RateLimitedError).retryAfterMs).toBeGreaterThan(0)
    expect((err as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(60_000)
    expect(h.tokenRequests()).toHaveLength(2)
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['granted', 'granted', 'denied_rate_limited'])
    expect(entries[2]).toMatchObject({
      connection: 'slack',
      errorCode: 'ERR_RATE_LIMITED',
      grantedScopes: [],
    })
    expect(entries[2]?.reasons[0]?.code).toBe('rate_limited')
    expectNoSecrets(entries)
    // github has no limit, and another agent has its own window
    await h.vault.exchange({ ...read })
    expect(h.tokenRequests()).toHaveLength(3)
  })
})

describe('vault.exchange: shadow mode', () => {
  it('audits what it would deny as shadow_denied and lets it through', async () => {
    h = await harness({ yaml: constitution({ mode: 'shadow' }) })
    const res = await h.vault.exchange({ ...read, scopes: ['repo:read', 'repo:write'] })
    expect(res.validation).toMatchObject({ permitted: true, shadow: true, decision: 'deny' })
    expect(res.scope).toEqual(['repo:read', 'repo:write'])
    expect(res.excessScopes).toEqual(['repo:write'])
    const entries = await h.entries()
    expect(entries.map((e) => e.outcome)).toEqual(['shadow_denied', 'shadow_denied', 'granted'])
    expect(entries[0]).toMatchObject({ deniedScopes: ['repo:write'], errorCode: 'ERR_SCOPE_VIOLATION' })
    expect(entries[1]).toMatchObject({ excessScopes: ['repo:write'], errorCode: 'ERR_EXCESS_SCOPES' })
    expect(entries[2]).toMatchObject({
      grantedScopes: ['repo:read', 'repo:write'],
      excessScopes: ['repo:write'],
    })
    expectNoSecrets(entries, [res.accessToken])
  })
})

describe('vault.exchange: returned scopes', () => {
  const injected = (scope: string, token: string) => ({
    path: '/oauth/token' as const,
    status: 200,
    body: {
      access_token: token,
      token_type: 'Bearer',
      expires_in: 3600,
      scope,
      issued_token_type: FEDERATED,
    },
  })

  it('denied_excess_scopes: a token carrying more than the role may hold is not released', async () => {
    h = await harness()
    const token = 'gho_excess_token_DO_NOT_LEAK_1234'
    h.emulator.inject(injected('repo:read repo:write', token))
    const err = await rejection(h.vault.exchange({ ...read }))
    expect(err).toBeInstanceOf(ExcessScopesError)
    expect((err as ExcessScopesError).excessScopes).toEqual(['repo:write'])
    expect(JSON.stringify(err)).not.toContain(token)
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'denied_excess_scopes',
      excessScopes: ['repo:write'],
      grantedScopes: [],
      errorCode: 'ERR_EXCESS_SCOPES',
      tokenFingerprint: fingerprintToken(token),
    })
    expectNoSecrets(entries, [token])
  })

  it('a high-risk scope that comes back unrequested is excess even when the role may hold it', async () => {
    h = await harness()
    h.emulator.inject(injected('repo:read repo:write', 'gho_sneaky_highrisk_000111'))
    const err = await rejection(h.vault.exchange({ ...read, agentId: 'builder', role: 'IMPLEMENTER' }))
    expect(err).toBeInstanceOf(ExcessScopesError)
    expect((err as ExcessScopesError).excessScopes).toEqual(['repo:write'])
  })

  it('excess_scopes: audit releases the token and records the excess', async () => {
    h = await harness({ yaml: constitution({ excess: 'audit' }) })
    const token = 'gho_audited_excess_token_5678'
    h.emulator.inject(injected('repo:read admin:org', token))
    const res = await h.vault.exchange({ ...read })
    expect(res.accessToken).toBe(token)
    expect(res.excessScopes).toEqual(['admin:org'])
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'granted',
      grantedScopes: ['repo:read', 'admin:org'],
      excessScopes: ['admin:org'],
    })
    expectNoSecrets(entries, [token])
  })

  it('a missing scope in the answer means the requested scopes', async () => {
    h = await harness()
    h.emulator.inject({
      path: '/oauth/token',
      status: 200,
      body: { access_token: 'gho_noscope_0000111122', token_type: 'bearer', expires_in: 3600 },
    })
    const res = await h.vault.exchange({ ...read })
    expect(res.scope).toEqual(['repo:read'])
  })
})

describe('vault.exchange: upstream error', () => {
  it('error: an Auth0 refusal is audited with Auth0’s error code and thrown', async () => {
    h = await harness()
    h.emulator.revoke(RT_ALICE)
    const err = await rejection(h.vault.exchange({ ...read }))
    expect(err).toBeInstanceOf(TokenVaultExchangeError)
    expect(err).toMatchObject({ error: 'invalid_grant', retryable: false })
    const entries = await h.entries()
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({
      outcome: 'error',
      errorCode: 'ERR_TOKEN_VAULT_EXCHANGE',
      grantedScopes: [],
    })
    expect(entries[0]?.reasons[0]?.message).toContain('invalid_grant')
    expectNoSecrets(entries)
  })

  it('error: missing Auth0 settings are audited and thrown; validate() needs none', async () => {
    const policy = MACIScopePolicy.fromYamlString(constitution())
    const vault = new ConstitutionalTokenVault({ policy, env: {} })
    expect(vault.validate({ ...read }).permitted).toBe(true)
    const err = await rejection(vault.exchange({ ...read }))
    expect(err).toBeInstanceOf(ConfigurationError)
    const log = await vault.auditLog()
    const entries = await (
      log as unknown as { query(): Promise<{ outcome: string; errorCode: string }[]> }
    ).query()
    expect(entries.map((e) => [e.outcome, e.errorCode])).toEqual([['error', 'ERR_CONFIGURATION']])
  })
})

describe('token cache', () => {
  it('500 concurrent identical requests share one upstream exchange and each get a granted entry', async () => {
    h = await harness()
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => h!.vault.exchange({ ...read, toolName: `t${i}` })),
    )
    expect(h.tokenRequests()).toHaveLength(1)
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1)
    const granted = await h.audit.query({ outcome: 'granted' })
    expect(granted).toHaveLength(500)
    expect(new Set(granted.map((e) => e.toolName)).size).toBe(500)
    expect(granted.filter((e) => !e.cached)).toHaveLength(1)
    expect((await h.audit.verify()).ok).toBe(true)
  })

  it('never shares a token across subjects, connections, login hints or scope sets', async () => {
    h = await harness()
    const variants = [
      { ...read },
      { ...read, refreshToken: RT_BOB, userId: 'auth0|bob' },
      { ...read, connection: 'slack', scopes: ['chat:read'] },
      { ...read, loginHint: 'alice-work' },
      { ...read, scopes: ['repo:read', 'read:user'] },
    ]
    const first = await Promise.all(variants.map((v) => h!.vault.exchange(v)))
    expect(new Set(first.map((r) => r.accessToken)).size).toBe(variants.length)
    expect(h.tokenRequests()).toHaveLength(variants.length)
    const again = await Promise.all(variants.map((v) => h!.vault.exchange(v)))
    expect(again.map((r) => r.cached)).toEqual(variants.map(() => true))
    expect(again.map((r) => r.accessToken)).toEqual(first.map((r) => r.accessToken))
    expect(h.tokenRequests()).toHaveLength(variants.length)
  })

  it('cache: false asks Auth0 every time', async () => {
    h = await harness({ vault: { cache: false } })
    await h.vault.exchange({ ...read })
    const res = await h.vault.exchange({ ...read })
    expect(res.cached).toBe(false)
    expect(h.tokenRequests()).toHaveLength(2)
  })
})

describe('constitutional hash pin', () => {
  const policy = () => MACIScopePolicy.fromYamlString(constitution())
  it('refuses a policy under another hash than the pinned one', () => {
    expect(
      () => new ConstitutionalTokenVault({ policy: policy(), constitutionalHash: '0000000000000000' }),
    ).toThrow(ConstitutionalHashMismatchError)
    expect(
      () =>
        new ConstitutionalTokenVault({
          policy: policy(),
          env: { ACGS_CONSTITUTIONAL_HASH: 'ffffffffffffffff' },
        }),
    ).toThrow(ConstitutionalHashMismatchError)
  })

  it('accepts the policy’s own hash by option, env or default, the option first', () => {
    expect(new ConstitutionalTokenVault({ policy: policy(), env: {} }).constitutionalHash).toBe(HASH)
    expect(
      new ConstitutionalTokenVault({ policy: policy(), env: { ACGS_CONSTITUTIONAL_HASH: HASH } })
        .constitutionalHash,
    ).toBe(HASH)
    expect(
      new ConstitutionalTokenVault({
        policy: policy(),
        constitutionalHash: HASH,
        env: { ACGS_CONSTITUTIONAL_HASH: 'ffffffffffffffff' },
      }).constitutionalHash,
    ).toBe(HASH)
  })
})
