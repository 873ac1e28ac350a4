import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages'
import type { RunnableConfig } from '@langchain/core/runnables'
import { StructuredTool, tool } from '@langchain/core/tools'
import { Command, END, MemorySaver, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph'
import { ToolNode } from '@langchain/langgraph/prebuilt'
import { describe, expect, it } from 'vitest'

import { z } from 'zod'
import { FakeVault, fakeToken } from '../../test/integrations-fake-vault.js'
import { AgentContextMissingError, ConstitutionalScopeViolation } from '../errors.js'
import {
  getTokenVaultCredentials,
  runAsAgent,
  type StepUpInterruptPayload,
  withConstitutionalTokenVault,
} from './langchain.js'

const configurable = {
  agent_id: 'planner',
  maci_role: 'EXECUTIVE',
  _credentials: { refresh_token: 'rt_planner' },
  user_id: 'auth0|alice',
}
const plannerToken = fakeToken({ connection: 'github', refreshToken: 'rt_planner' })

function listIssuesTool() {
  return tool(
    async ({ repo }: { repo: string }) => {
      const { accessToken, scope } = getTokenVaultCredentials()
      return `issues of ${repo} with ${accessToken} (${scope.join(' ')})`
    },
    {
      name: 'list_issues',
      description: 'List open issues of a repository',
      schema: z.object({ repo: z.string() }),
    },
  )
}

function toolCallMessage(name: string, args: Record<string, unknown>, id = 'call_1'): AIMessage {
  return new AIMessage({ content: '', tool_calls: [{ id, name, args, type: 'tool_call' }] })
}

describe('acgs-auth0/langchain withConstitutionalTokenVault', () => {
  it('governs a tool() tool invoked with tool.invoke(input, config) and keeps name, description and schema', async () => {
    const vault = new FakeVault()
    const original = listIssuesTool()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      original,
    )
    expect(governed.name).toBe('list_issues')
    expect(governed.description).toBe(original.description)
    expect(governed.schema).toBe(original.schema)
    expect(governed).toBeInstanceOf(original.constructor)
    const out = await governed.invoke({ repo: 'acme/api' }, { configurable })
    expect(out).toBe(`issues of acme/api with ${plannerToken} (repo:read)`)
    expect(vault.requests).toEqual([
      {
        agentId: 'planner',
        role: 'EXECUTIVE',
        connection: 'github',
        scopes: ['repo:read'],
        userId: 'auth0|alice',
        toolName: 'list_issues',
      },
    ])
    // the original is untouched: it is not governed
    await expect(original.invoke({ repo: 'x' })).rejects.toBeInstanceOf(AgentContextMissingError)
  })

  it('returns a ToolMessage for a tool call, and validates the input with the schema first', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      listIssuesTool(),
    )
    const msg = await governed.invoke(
      { id: 'call_9', name: 'list_issues', args: { repo: 'acme/web' }, type: 'tool_call' },
      { configurable },
    )
    expect(msg).toBeInstanceOf(ToolMessage)
    expect((msg as ToolMessage).tool_call_id).toBe('call_9')
    expect((msg as ToolMessage).content).toContain(plannerToken)
    await expect(governed.invoke({ repo: 42 } as never, { configurable })).rejects.toThrow(/did not match/)
    expect(vault.requests).toHaveLength(1)
  })

  it('governs a StructuredTool subclass instance and keeps its class', async () => {
    class RepoTool extends StructuredTool {
      name = 'get_repo'
      description = 'Get a repository'
      schema = z.object({ repo: z.string() })
      extra(): string {
        return 'still here'
      }
      async _call({ repo }: { repo: string }): Promise<string> {
        return `${repo}:${getTokenVaultCredentials().accessToken}`
      }
    }
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      new RepoTool(),
    )
    expect(governed).toBeInstanceOf(RepoTool)
    expect(governed.extra()).toBe('still here')
    await expect(governed.invoke({ repo: 'acme/api' }, { configurable })).resolves.toBe(
      `acme/api:${plannerToken}`,
    )
  })

  it('lets resolvers override configurable; they receive the input and the config', async () => {
    const vault = new FakeVault()
    const seen: unknown[] = []
    const governed = withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:read'],
      getAgentContext: (input, config: RunnableConfig) => {
        seen.push(input, config.configurable?.tenant)
        return { agentId: 'auditor', role: 'AUDITOR' }
      },
    })(listIssuesTool())
    await governed.invoke({ repo: 'acme/api' }, { configurable: { ...configurable, tenant: 't1' } })
    expect(seen).toEqual([{ repo: 'acme/api' }, 't1'])
    expect(vault.requests[0]).toMatchObject({ agentId: 'auditor', role: 'AUDITOR' })
  })

  it('falls back to runAsAgent when configurable has no agent, and reads login_hint', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      listIssuesTool(),
    )
    const out = await runAsAgent({ agentId: 'monitor', role: 'MONITOR', refreshToken: 'rt_monitor' }, () =>
      governed.invoke({ repo: 'acme/api' }, { configurable: { login_hint: 'octo-work' } }),
    )
    expect(out).toContain(fakeToken({ connection: 'github', refreshToken: 'rt_monitor' }))
    expect(vault.requests[0]).toMatchObject({ agentId: 'monitor', role: 'MONITOR', loginHint: 'octo-work' })
  })

  it('turns a denial into an error ToolMessage the model reads, or a string without a tool call', async () => {
    const vault = new FakeVault({
      deny: () =>
        new ConstitutionalScopeViolation('repo:write is not permitted for role EXECUTIVE', ['repo:write']),
    })
    let ran = false
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:write'] })(
      tool(
        async () => {
          ran = true
          return 'pushed'
        },
        { name: 'push', description: 'Push', schema: z.object({}) },
      ),
    )
    const msg = (await governed.invoke(
      { id: 'call_2', name: 'push', args: {}, type: 'tool_call' },
      { configurable },
    )) as ToolMessage
    expect(msg).toBeInstanceOf(ToolMessage)
    expect(msg.status).toBe('error')
    expect(msg.content).toContain('The constitution refused tool "push" a github token')
    expect(msg.content).toContain('ERR_SCOPE_VIOLATION')
    expect(msg.artifact).toMatchObject({ code: 'ERR_SCOPE_VIOLATION', deniedScopes: ['repo:write'] })
    await expect(governed.invoke({}, { configurable })).resolves.toMatch(/repo:write is not permitted/)
    expect(ran).toBe(false)

    const throwing = withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:write'],
      onDenied: 'throw',
    })(listIssuesTool())
    await expect(throwing.invoke({ repo: 'a' }, { configurable })).rejects.toBeInstanceOf(
      ConstitutionalScopeViolation,
    )
  })

  it('throws AgentContextMissingError when configurable, resolvers and runAsAgent give no agent', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      listIssuesTool(),
    )
    const err = await governed
      .invoke({ repo: 'a' }, { configurable: { _credentials: { refresh_token: 'rt' } } })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AgentContextMissingError)
    expect((err as Error).message).toMatch(/configurable\.agent_id/)
    await expect(
      governed.invoke({ repo: 'a' }, { configurable: { agent_id: 'planner', maci_role: 'EXECUTIVE' } }),
    ).rejects.toThrow(/refresh_token/)
    expect(vault.requests).toHaveLength(0)
  })

  it('runs inside a LangGraph graph with a ToolNode; a denial becomes a ToolMessage and the graph goes on', async () => {
    const vault = new FakeVault({
      deny: (r) =>
        r.scopes.includes('delete_repo')
          ? new ConstitutionalScopeViolation('delete_repo is never permitted', ['delete_repo'])
          : undefined,
    })
    const withGithub = (scopes: string[]) =>
      withConstitutionalTokenVault(vault, { connection: 'github', scopes })
    const list = withGithub(['repo:read'])(listIssuesTool())
    const del = withGithub(['delete_repo'])(
      tool(async () => 'deleted', {
        name: 'delete_repo',
        description: 'Delete',
        schema: z.object({ repo: z.string() }),
      }),
    )
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('agent', () => ({
        messages: [
          new AIMessage({
            content: '',
            tool_calls: [
              { id: 'c1', name: 'list_issues', args: { repo: 'acme/api' }, type: 'tool_call' },
              { id: 'c2', name: 'delete_repo', args: { repo: 'acme/api' }, type: 'tool_call' },
            ],
          }),
        ],
      }))
      .addNode('tools', new ToolNode([list, del]))
      .addEdge(START, 'agent')
      .addEdge('agent', 'tools')
      .addEdge('tools', END)
      .compile()
    const out = await graph.invoke({ messages: [] }, { configurable })
    const tools = out.messages.filter((m: BaseMessage) => m instanceof ToolMessage) as ToolMessage[]
    expect(tools.map((m) => [m.tool_call_id, m.status])).toEqual([
      ['c1', 'success'],
      ['c2', 'error'],
    ])
    expect(tools[0]?.content).toContain(plannerToken)
    expect(tools[1]?.content).toContain('delete_repo is never permitted')
  })

  it('pauses the graph with interrupt() on a step-up and resumes with the stepUpId once approved', async () => {
    const vault = new FakeVault({ stepUpScopes: ['repo:write'] })
    let pushes = 0
    const push = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:write'] })(
      tool(
        async ({ repo }: { repo: string }) => {
          pushes++
          return `pushed to ${repo} with ${getTokenVaultCredentials().accessToken}`
        },
        { name: 'push', description: 'Push a commit', schema: z.object({ repo: z.string() }) },
      ),
    )
    const graph = new StateGraph(MessagesAnnotation)
      .addNode('agent', () => ({ messages: [toolCallMessage('push', { repo: 'acme/api' })] }))
      .addNode('tools', new ToolNode([push]))
      .addEdge(START, 'agent')
      .addEdge('agent', 'tools')
      .addEdge('tools', END)
      .compile({ checkpointer: new MemorySaver() })
    const config = { configurable: { ...configurable, thread_id: 'thread-1' } }

    const first = await graph.invoke({ messages: [] }, config)
    const interrupts = (first as { __interrupt__?: { value: StepUpInterruptPayload }[] }).__interrupt__ ?? []
    expect(interrupts).toHaveLength(1)
    const payload = interrupts[0]?.value as StepUpInterruptPayload
    expect(payload).toEqual({
      type: 'acgs_step_up_required',
      stepUpId: 'su-1',
      connection: 'github',
      scopes: ['repo:write'],
      bindingMessage: 'planner wants repo:write',
      message: expect.stringContaining('needs approval for repo:write on github'),
      toolName: 'push',
    })
    expect(JSON.parse(JSON.stringify(payload))).toEqual(payload)
    expect(pushes).toBe(0)

    // Resumed before anyone decided: the graph pauses again for the same step-up.
    const again = await graph.invoke(new Command({ resume: 'go' }), config)
    const second = (again as { __interrupt__?: { value: StepUpInterruptPayload }[] }).__interrupt__ ?? []
    expect(second[0]?.value.stepUpId).toBe('su-1')
    expect(pushes).toBe(0)

    vault.approved.add('su-1')
    const done = await graph.invoke(new Command({ resume: { approved: true } }), config)
    const last = done.messages.at(-1) as ToolMessage
    expect(last).toBeInstanceOf(ToolMessage)
    expect(last.content).toBe(`pushed to acme/api with ${plannerToken}`)
    expect(pushes).toBe(1)
    // one step-up started, every later exchange resumed it
    expect(vault.started).toEqual(['su-1'])
    expect(vault.requests.map((r) => r.stepUpId)).toEqual([undefined, 'su-1', 'su-1'])
  })

  it('resumes in a fresh process (no remembered step-up) when the resume value carries the stepUpId', async () => {
    const vault = new FakeVault({ stepUpScopes: ['repo:write'] })
    const checkpointer = new MemorySaver()
    const build = () => {
      const push = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:write'] })(
        tool(async () => `pushed with ${getTokenVaultCredentials().accessToken}`, {
          name: 'push',
          description: 'Push',
          schema: z.object({}),
        }),
      )
      return new StateGraph(MessagesAnnotation)
        .addNode('agent', () => ({ messages: [toolCallMessage('push', {})] }))
        .addNode('tools', new ToolNode([push]))
        .addEdge(START, 'agent')
        .addEdge('agent', 'tools')
        .addEdge('tools', END)
        .compile({ checkpointer })
    }
    const config = { configurable: { ...configurable, thread_id: 'thread-2' } }
    const first = await build().invoke({ messages: [] }, config)
    const payload = (first as { __interrupt__?: { value: StepUpInterruptPayload }[] }).__interrupt__?.[0]
      ?.value
    expect(payload?.stepUpId).toBe('su-1')
    vault.approved.add('su-1')
    const done = await build().invoke(new Command({ resume: payload }), config)
    expect((done.messages.at(-1) as ToolMessage).content).toBe(`pushed with ${plannerToken}`)
    expect(vault.requests.at(-1)?.stepUpId).toBe('su-1')
  })

  it('reports a step-up as an error message when it cannot pause (no graph)', async () => {
    const vault = new FakeVault({ stepUpScopes: ['repo:write'] })
    const push = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:write'] })(
      tool(async () => 'pushed', { name: 'push', description: 'Push', schema: z.object({}) }),
    )
    const msg = (await push.invoke(
      { id: 'c', name: 'push', args: {}, type: 'tool_call' },
      { configurable },
    )) as ToolMessage
    expect(msg.status).toBe('error')
    expect(msg.content).toContain('step-up id su-1')
    expect(msg.artifact).toMatchObject({ code: 'ERR_STEP_UP_REQUIRED', stepUpId: 'su-1' })
  })
})
