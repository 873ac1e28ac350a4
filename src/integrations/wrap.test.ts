import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'

import { FakeVault, fakeToken } from '../../test/integrations-fake-vault.js'
import { AgentContextMissingError, ConstitutionalScopeViolation } from '../errors.js'
import {
  currentAgentContext,
  getTokenVaultCredentials,
  runAsAgent,
  type TokenVaultCredentials,
} from './context.js'
import { withConstitutionalTokenVault } from './wrap.js'

const planner = { agentId: 'planner', role: 'EXECUTIVE', refreshToken: 'rt_planner' }

describe('withConstitutionalTokenVault (plain functions)', () => {
  it('runs the governed exchange first and exposes the credentials inside the call', async () => {
    const vault = new FakeVault()
    const withGithub = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })
    const listIssues = withGithub(async function listIssues(repo: string) {
      const creds = getTokenVaultCredentials()
      return {
        repo,
        token: creds.accessToken,
        scope: creds.scope,
        connection: creds.connection,
        type: creds.tokenType,
      }
    })
    const out = await runAsAgent({ ...planner, userId: 'auth0|alice', loginHint: 'alice-gh' }, () =>
      listIssues('acme/api'),
    )
    expect(out).toEqual({
      repo: 'acme/api',
      token: fakeToken({ connection: 'github', refreshToken: 'rt_planner' }),
      scope: ['repo:read'],
      connection: 'github',
      type: 'Bearer',
    })
    expect(vault.requests).toEqual([
      {
        agentId: 'planner',
        role: 'EXECUTIVE',
        connection: 'github',
        scopes: ['repo:read'],
        userId: 'auth0|alice',
        loginHint: 'alice-gh',
        toolName: 'listIssues',
      },
    ])
    expect(vault.subjects).toEqual(['rt_planner'])
    expect(listIssues.name).toBe('listIssues')
  })

  it('wraps in one call, passes `this` and arguments, and gives resolvers the call arguments', async () => {
    const vault = new FakeVault()
    const seen: unknown[][] = []
    const fn = withConstitutionalTokenVault(
      vault,
      {
        connection: 'slack',
        scopes: ['channels:read'],
        toolName: 'read_channels',
        getAgentContext: async (...args) => {
          seen.push(args)
          return { agentId: 'monitor', role: 'MONITOR' }
        },
        getSubjectToken: () => ({ accessToken: 'at_user' }),
        getUserId: () => 'auth0|bob',
      },
      async function (this: { prefix: string }, channel: string, n: number) {
        return `${this.prefix}${channel}:${n}:${getTokenVaultCredentials().accessToken}`
      },
    )
    const out = await fn.call({ prefix: '#' }, 'general', 3)
    expect(out).toBe(`#general:3:${fakeToken({ connection: 'slack', accessToken: 'at_user' })}`)
    expect(seen).toEqual([['general', 3]])
    expect(vault.requests[0]).toMatchObject({
      agentId: 'monitor',
      role: 'MONITOR',
      userId: 'auth0|bob',
      toolName: 'read_channels',
    })
    expect(vault.subjects).toEqual(['at_user'])
  })

  it('lets a resolver override the ambient context, and one returning undefined defer to it', async () => {
    const vault = new FakeVault()
    const fn = withConstitutionalTokenVault(
      vault,
      {
        connection: 'github',
        scopes: ['repo:read'],
        getAgentContext: () => ({ agentId: 'auditor', role: 'AUDITOR' }),
        getSubjectToken: () => undefined,
      },
      async () => getTokenVaultCredentials().accessToken,
    )
    await expect(runAsAgent(planner, fn)).resolves.toBe(
      fakeToken({ connection: 'github', refreshToken: 'rt_planner' }),
    )
    expect(vault.requests[0]).toMatchObject({ agentId: 'auditor', role: 'AUDITOR' })
  })

  it('fails with AgentContextMissingError without context or resolver, and never calls the vault', async () => {
    const vault = new FakeVault()
    let ran = false
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async function listIssues() {
        ran = true
      },
    )
    const err = await fn().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AgentContextMissingError)
    expect((err as Error).message).toMatch(/no agent identity.*"listIssues".*runAsAgent/)
    expect(vault.requests).toHaveLength(0)
    expect(ran).toBe(false)
  })

  it('treats empty strings as missing, never as an identity', async () => {
    const vault = new FakeVault()
    expect(() => runAsAgent({ agentId: '', role: 'EXECUTIVE', refreshToken: 'rt' }, () => 1)).toThrow(
      AgentContextMissingError,
    )
    expect(() => runAsAgent({ agentId: 'planner', role: '', refreshToken: 'rt' }, () => 1)).toThrow(
      AgentContextMissingError,
    )
    const noToken = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async () => 1,
    )
    await expect(
      runAsAgent({ agentId: 'planner', role: 'EXECUTIVE', refreshToken: '' }, noToken),
    ).rejects.toThrow(/no subject token/)
    const emptyResolver = withConstitutionalTokenVault(
      vault,
      {
        connection: 'github',
        scopes: ['repo:read'],
        getAgentContext: () => ({ agentId: 'planner', role: '' }),
      },
      async () => 1,
    )
    await expect(runAsAgent(planner, emptyResolver)).rejects.toBeInstanceOf(AgentContextMissingError)
    const emptyToken = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'], getSubjectToken: () => ({ refreshToken: '' }) },
      async () => 1,
    )
    await expect(runAsAgent(planner, emptyToken)).rejects.toBeInstanceOf(AgentContextMissingError)
    expect(vault.requests).toHaveLength(0)
  })

  it('rejects with the vault denial and does not run the function', async () => {
    const denial = new ConstitutionalScopeViolation('repo:write is not permitted for EXECUTIVE on github', [
      'repo:write',
    ])
    const vault = new FakeVault({ deny: () => denial })
    let ran = false
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:write'] },
      async () => {
        ran = true
      },
    )
    await expect(runAsAgent(planner, fn)).rejects.toBe(denial)
    expect(ran).toBe(false)
  })

  it('has no credentials outside a governed call', () => {
    expect(() => getTokenVaultCredentials()).toThrow(AgentContextMissingError)
    expect(() => getTokenVaultCredentials()).toThrow(
      /outside a function wrapped by withConstitutionalTokenVault/,
    )
  })

  it('retires the credentials when the call returns, also for promises and timers it left behind', async () => {
    const vault = new FakeVault()
    let leftover: Promise<unknown> | undefined
    let kept: TokenVaultCredentials | undefined
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async () => {
        kept = getTokenVaultCredentials()
        // Runs after the governed call has returned, in the call's async context.
        leftover = new Promise((resolve) => setImmediate(resolve)).then(() => getTokenVaultCredentials())
        leftover.catch(() => {})
        return kept.accessToken
      },
    )
    await expect(runAsAgent(planner, fn)).resolves.toBe(
      fakeToken({ connection: 'github', refreshToken: 'rt_planner' }),
    )
    await expect(leftover).rejects.toThrow(/no longer available/)
    expect(() => kept?.accessToken).toThrow(AgentContextMissingError)
    expect(kept?.scope).toEqual(['repo:read'])
  })

  it('retires the credentials when the function throws', async () => {
    const vault = new FakeVault()
    let kept: TokenVaultCredentials | undefined
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async () => {
        kept = getTokenVaultCredentials()
        throw new Error('boom')
      },
    )
    await expect(runAsAgent(planner, fn)).rejects.toThrow('boom')
    expect(() => kept?.accessToken).toThrow(AgentContextMissingError)
  })

  it('gives a nested governed call its own credentials and restores the outer ones after it', async () => {
    const vault = new FakeVault()
    const slack = withConstitutionalTokenVault(
      vault,
      { connection: 'slack', scopes: ['channels:read'] },
      async () => getTokenVaultCredentials(),
    )
    const github = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async () => {
        const before = getTokenVaultCredentials().connection
        const inner = await slack()
        const after = getTokenVaultCredentials()
        return { before, inner: inner.connection, after: after.connection, afterToken: after.accessToken }
      },
    )
    await expect(runAsAgent(planner, github)).resolves.toEqual({
      before: 'github',
      inner: 'slack',
      after: 'github',
      afterToken: fakeToken({ connection: 'github', refreshToken: 'rt_planner' }),
    })
  })

  it('keeps 100 concurrent calls of different agents apart', async () => {
    const vault = new FakeVault()
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async (i: number) => {
        const first = getTokenVaultCredentials().accessToken
        for (let k = 0; k < i % 7; k++) await new Promise((resolve) => setImmediate(resolve))
        return { i, first, last: getTokenVaultCredentials().accessToken }
      },
    )
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        runAsAgent({ agentId: `agent-${i}`, role: 'EXECUTIVE', refreshToken: `rt_${i}` }, () => fn(i)),
      ),
    )
    for (const { i, first, last } of results) {
      const own = fakeToken({ connection: 'github', refreshToken: `rt_${i}` })
      expect(first).toBe(own)
      expect(last).toBe(own)
    }
    expect(new Set(vault.requests.map((r) => r.agentId)).size).toBe(100)
  })

  it('never prints the token or the subject token', async () => {
    const vault = new FakeVault()
    const token = fakeToken({ connection: 'github', refreshToken: 'rt_planner' })
    let creds: TokenVaultCredentials | undefined
    let printedContext = ''
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async () => {
        creds = getTokenVaultCredentials()
        const shown = [
          JSON.stringify(creds),
          inspect(creds),
          inspect(creds, { showHidden: true, getters: true, depth: 5 }),
          String(Object.keys(creds)),
          JSON.stringify({ ...creds }),
        ].join('\n')
        expect(shown).not.toContain(token)
        expect(inspect(creds)).toContain('[REDACTED]')
        return creds.accessToken
      },
    )
    await expect(
      runAsAgent(planner, () => {
        printedContext = `${inspect(currentAgentContext(), { showHidden: false })}${JSON.stringify(currentAgentContext())}`
        return fn()
      }),
    ).resolves.toBe(token)
    expect(printedContext).toContain('planner')
    expect(printedContext).not.toContain('rt_planner')
  })

  it('refuses malformed options and both subject tokens at once', () => {
    const vault = new FakeVault()
    expect(() => withConstitutionalTokenVault(vault, { connection: '', scopes: ['a'] })).toThrow(TypeError)
    expect(() =>
      withConstitutionalTokenVault(vault, {
        connection: 'github',
        scopes: 'repo:read' as unknown as string[],
      }),
    ).toThrow(TypeError)
    expect(() =>
      withConstitutionalTokenVault({} as FakeVault, { connection: 'github', scopes: ['a'] }),
    ).toThrow(TypeError)
    expect(() =>
      runAsAgent({ agentId: 'a', role: 'EXECUTIVE', refreshToken: 'rt', accessToken: 'at' }, () => 1),
    ).toThrow(TypeError)
  })
})
