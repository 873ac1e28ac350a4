/**
 * The integrations end to end: the real vault, policy and audit log against the Token Vault
 * emulator over loopback HTTP, with the real LangChain, LangGraph and AI SDK packages.
 */
import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages'
import { tool as lcTool } from '@langchain/core/tools'
import { Command, END, MemorySaver, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph'
import { ToolNode } from '@langchain/langgraph/prebuilt'
import { tool as aiTool, generateText, stepCountIs } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { fingerprintToken, TokenAuditLog } from '../src/audit/index.js'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../src/emulator/index.js'
import { AgentContextMissingError, MACIRoleNotPermittedError } from '../src/errors.js'
import {
  getTokenVaultCredentials,
  runAsAgent,
  withConstitutionalTokenVault,
} from '../src/integrations/index.js'
import * as langchain from '../src/integrations/langchain.js'
import * as vercel from '../src/integrations/vercel-ai.js'
import { MACIScopePolicy } from '../src/policy/index.js'
import { PendingApprovals } from '../src/step-up/index.js'
import { ConstitutionalTokenVault } from '../src/vault/index.js'

const POLICY = `
token_vault:
  constitutional_hash: "608508a9bd224290"
  step_up:
    approvers: [JUDICIAL]
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
        high_risk_scopes: []
      IMPLEMENTER:
        permitted_scopes: ["read:user", "repo:read", "repo:write"]
        high_risk_scopes: ["repo:write"]
`
const client = { clientId: 'client-e2e', clientSecret: 'secret-e2e-0123456789' }
const USERS = 100

let emulator: TokenVaultEmulator
let policy: MACIScopePolicy

beforeAll(async () => {
  policy = MACIScopePolicy.fromYamlString(POLICY, 'inline.yaml')
  emulator = await startTokenVaultEmulator({
    clients: [client],
    users: Array.from({ length: USERS }, (_, i) => ({
      userId: `auth0|user${i}`,
      refreshToken: `rt_user_${i}_abcdef`,
      connections: { github: ['read:user', 'repo:read', 'repo:write'] },
    })),
  })
})

afterAll(async () => {
  await emulator?.close()
})

async function makeVault(approvals?: PendingApprovals) {
  const audit = await TokenAuditLog.open('memory:')
  const vault = new ConstitutionalTokenVault({
    policy,
    audit,
    env: {},
    auth0: { domain: emulator.url, ...client },
    ...(approvals ? { stepUp: { approver: approvals, mode: 'interrupt' as const } } : {}),
  })
  return { vault, audit }
}

describe('integrations against the real vault and the emulator', () => {
  it('keeps 100 concurrent governed calls of different agents apart: each sees only its own token', async () => {
    const { vault, audit } = await makeVault()
    const fn = withConstitutionalTokenVault(
      vault,
      { connection: 'github', scopes: ['repo:read'] },
      async function readRepo(i: number) {
        const first = getTokenVaultCredentials().accessToken
        for (let k = 0; k < i % 5; k++) await new Promise((resolve) => setImmediate(resolve))
        return { i, first, last: getTokenVaultCredentials().accessToken }
      },
    )
    const results = await Promise.all(
      Array.from({ length: USERS }, (_, i) =>
        runAsAgent(
          {
            agentId: `agent-${i}`,
            role: 'EXECUTIVE',
            refreshToken: `rt_user_${i}_abcdef`,
            userId: `auth0|user${i}`,
          },
          () => fn(i),
        ),
      ),
    )
    const granted = await audit.query({ outcome: 'granted' })
    expect(granted).toHaveLength(USERS)
    const fingerprintOf = new Map(granted.map((e) => [e.agentId, e.tokenFingerprint]))
    for (const { i, first, last } of results) {
      expect(last).toBe(first)
      // the token this call saw is the one the audit log recorded as released to this agent
      expect(fingerprintToken(first)).toBe(fingerprintOf.get(`agent-${i}`))
    }
    expect(new Set(results.map((r) => r.first)).size).toBe(USERS)
  })

  it('keeps 100 concurrent LangChain tool invocations of different agents apart', async () => {
    const { vault, audit } = await makeVault()
    const readRepo = langchain.withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:read'],
    })(
      lcTool(
        async ({ i }: { i: number }) => {
          const first = getTokenVaultCredentials().accessToken
          for (let k = 0; k < i % 5; k++) await new Promise((resolve) => setImmediate(resolve))
          return JSON.stringify({ first, last: getTokenVaultCredentials().accessToken })
        },
        { name: 'read_repo', description: 'Read', schema: z.object({ i: z.number() }) },
      ),
    )
    const outs = await Promise.all(
      Array.from({ length: USERS }, async (_, i) => {
        const raw = await readRepo.invoke(
          { i },
          {
            configurable: {
              agent_id: `lc-agent-${i}`,
              maci_role: 'EXECUTIVE',
              _credentials: { refresh_token: `rt_user_${i}_abcdef` },
            },
          },
        )
        return { i, ...(JSON.parse(raw as string) as { first: string; last: string }) }
      }),
    )
    const granted = await audit.query({ outcome: 'granted' })
    const fingerprintOf = new Map(granted.map((e) => [e.agentId, e.tokenFingerprint]))
    for (const { i, first, last } of outs) {
      expect(last).toBe(first)
      expect(fingerprintToken(first)).toBe(fingerprintOf.get(`lc-agent-${i}`))
    }
    expect(new Set(outs.map((o) => o.first)).size).toBe(USERS)
  })

  it('builds a vault from a policy and the environment, and denies what the constitution does not permit', async () => {
    const env = {
      AUTH0_DOMAIN: emulator.url,
      AUTH0_CLIENT_ID: client.clientId,
      AUTH0_CLIENT_SECRET: client.clientSecret,
    }
    const saved = { ...process.env }
    Object.assign(process.env, env)
    try {
      const own = MACIScopePolicy.fromYamlString(POLICY, 'inline.yaml')
      const read = withConstitutionalTokenVault(
        own,
        { connection: 'github', scopes: ['repo:read'] },
        async () => getTokenVaultCredentials().scope,
      )
      const agent = { agentId: 'planner', role: 'EXECUTIVE', refreshToken: 'rt_user_1_abcdef' }
      await expect(runAsAgent(agent, read)).resolves.toEqual(['repo:read'])
      const judge = withConstitutionalTokenVault(
        own,
        { connection: 'github', scopes: ['repo:read'] },
        async () => 1,
      )
      await expect(runAsAgent({ ...agent, role: 'JUDICIAL' }, judge)).rejects.toBeInstanceOf(
        MACIRoleNotPermittedError,
      )
      await expect(read()).rejects.toBeInstanceOf(AgentContextMissingError)
    } finally {
      for (const key of Object.keys(env)) delete process.env[key]
      Object.assign(process.env, saved)
    }
  })

  it('LangGraph: step-up interrupt → JUDICIAL approval from the pending queue → resume → tool runs', async () => {
    const approvals = new PendingApprovals()
    const { vault, audit } = await makeVault(approvals)
    let pushed = 0
    const push = langchain.withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:write'],
    })(
      lcTool(
        async ({ repo }: { repo: string }) => {
          pushed++
          return `pushed to ${repo} (${getTokenVaultCredentials().scope.join(' ')})`
        },
        { name: 'push_commit', description: 'Push a commit', schema: z.object({ repo: z.string() }) },
      ),
    )
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('agent', () => ({
        messages: [
          new AIMessage({
            content: '',
            tool_calls: [
              { id: 'call_1', name: 'push_commit', args: { repo: 'acme/api' }, type: 'tool_call' },
            ],
          }),
        ],
      }))
      .addNode('tools', new ToolNode([push]))
      .addEdge(START, 'agent')
      .addEdge('agent', 'tools')
      .addEdge('tools', END)
      .compile({ checkpointer: new MemorySaver() })
    const config = {
      configurable: {
        thread_id: 'e2e-1',
        agent_id: 'builder',
        maci_role: 'IMPLEMENTER',
        user_id: 'auth0|user7',
        _credentials: { refresh_token: 'rt_user_7_abcdef' },
      },
    }
    const first = (await graph.invoke({ messages: [] }, config)) as { __interrupt__?: { value: unknown }[] }
    const payload = first.__interrupt__?.[0]?.value as langchain.StepUpInterruptPayload
    expect(payload).toMatchObject({
      type: 'acgs_step_up_required',
      connection: 'github',
      scopes: ['repo:write'],
    })
    expect(pushed).toBe(0)
    const queued = approvals.list()
    expect(queued.map((p) => p.id)).toEqual([payload.stepUpId])

    approvals.approve(payload.stepUpId, { id: 'reviewer', role: 'JUDICIAL' })
    const done = await graph.invoke(new Command({ resume: payload }), config)
    const last = done.messages.at(-1) as ToolMessage
    expect(last).toBeInstanceOf(ToolMessage)
    expect(last.status).toBe('success')
    expect(last.content).toBe('pushed to acme/api (repo:write)')
    expect(pushed).toBe(1)
    const outcomes = (await audit.query({ agentId: 'builder' })).map((e) => e.outcome)
    expect(outcomes).toEqual(['step_up_initiated', 'step_up_approved', 'granted'])
  })

  it('LangGraph: a denied step-up becomes an error ToolMessage after the resume', async () => {
    const approvals = new PendingApprovals()
    const { vault } = await makeVault(approvals)
    const push = langchain.withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:write'],
    })(lcTool(async () => 'pushed', { name: 'push_commit', description: 'Push', schema: z.object({}) }))
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('agent', () => ({
        messages: [
          new AIMessage({
            content: '',
            tool_calls: [{ id: 'c', name: 'push_commit', args: {}, type: 'tool_call' }],
          }),
        ],
      }))
      .addNode('tools', new ToolNode([push]))
      .addEdge(START, 'agent')
      .addEdge('agent', 'tools')
      .addEdge('tools', END)
      .compile({ checkpointer: new MemorySaver() })
    const config = {
      configurable: {
        thread_id: 'e2e-2',
        agent_id: 'builder',
        maci_role: 'IMPLEMENTER',
        _credentials: { refresh_token: 'rt_user_8_abcdef' },
      },
    }
    const first = (await graph.invoke({ messages: [] }, config)) as { __interrupt__?: { value: unknown }[] }
    const payload = first.__interrupt__?.[0]?.value as langchain.StepUpInterruptPayload
    approvals.deny(payload.stepUpId, { id: 'reviewer', role: 'JUDICIAL' }, 'not today')
    const done = await graph.invoke(new Command({ resume: payload }), config)
    const last = done.messages.filter((m: BaseMessage) => m instanceof ToolMessage).at(-1) as ToolMessage
    expect(last.status).toBe('error')
    expect(last.content).toContain('ERR_STEP_UP_DENIED')
  })

  it('AI SDK: generateText with the mock model calls a governed tool against the real vault', async () => {
    const { vault } = await makeVault()
    const listIssues = vercel.withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:read'],
      toolName: 'list_issues',
    })(
      aiTool({
        description: 'List open issues',
        inputSchema: z.object({ repo: z.string() }),
        execute: async ({ repo }) => {
          const { accessToken, scope } = getTokenVaultCredentials()
          return { repo, scope, tokenLength: accessToken.length }
        },
      }),
    )
    const usage = {
      inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
      outputTokens: { total: 1, text: 1, reasoning: 0 },
    }
    const model = new MockLanguageModelV3({
      doGenerate: [
        {
          content: [
            { type: 'tool-call', toolCallId: 't1', toolName: 'list_issues', input: '{"repo":"acme/api"}' },
          ],
          finishReason: { unified: 'tool-calls', raw: undefined },
          usage,
          warnings: [],
        },
        {
          content: [{ type: 'text', text: 'two open issues' }],
          finishReason: { unified: 'stop', raw: undefined },
          usage,
          warnings: [],
        },
      ],
    })
    const result = await runAsAgent(
      { agentId: 'planner', role: 'EXECUTIVE', refreshToken: 'rt_user_3_abcdef' },
      () =>
        generateText({
          model,
          tools: { list_issues: listIssues },
          prompt: 'issues?',
          stopWhen: stepCountIs(3),
        }),
    )
    expect(result.text).toBe('two open issues')
    const output = result.steps[0]?.toolResults[0]?.output as {
      repo: string
      scope: string[]
      tokenLength: number
    }
    expect(output.repo).toBe('acme/api')
    expect(output.scope).toEqual(['repo:read'])
    expect(output.tokenLength).toBeGreaterThan(10)
  })
})
