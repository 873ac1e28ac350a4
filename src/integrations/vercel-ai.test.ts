import type { LanguageModelV3GenerateResult } from '@ai-sdk/provider'
import { generateText, stepCountIs, type Tool, tool } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { describe, expect, it, vi } from 'vitest'
import { z } from 'zod'
import { FakeVault, fakeToken } from '../../test/integrations-fake-vault.js'
import { AgentContextMissingError, ConstitutionalScopeViolation, StepUpAuthRequiredError } from '../errors.js'
import type { TokenVaultRequest } from '../vault/types.js'
import { getTokenVaultCredentials, runAsAgent, withConstitutionalTokenVault } from './vercel-ai.js'

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
}

function callTool(toolName: string, input: unknown, toolCallId = 'call_1'): LanguageModelV3GenerateResult {
  return {
    content: [{ type: 'tool-call', toolCallId, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
    usage,
    warnings: [],
  }
}

function say(text: string): LanguageModelV3GenerateResult {
  return {
    content: [{ type: 'text', text }],
    finishReason: { unified: 'stop', raw: 'stop' },
    usage,
    warnings: [],
  }
}

const planner = { agentId: 'planner', role: 'EXECUTIVE', refreshToken: 'rt_planner' }
const plannerToken = fakeToken({ connection: 'github', refreshToken: 'rt_planner' })

function listIssues() {
  return tool({
    description: 'List open issues of a repository',
    inputSchema: z.object({ repo: z.string() }),
    execute: async ({ repo }) => ({ repo, token: getTokenVaultCredentials().accessToken }),
  })
}

/** The `error` of the first step's first tool-error part. */
function toolError(result: { steps: { content: { type: string }[] }[] }): unknown {
  const part = result.steps[0]?.content.find((p) => p.type === 'tool-error') as
    | { error?: unknown }
    | undefined
  return part?.error
}

/** The text the model was sent as the result of the first tool call, on its second turn. */
function toolResultSentToModel(model: MockLanguageModelV3): unknown {
  const prompt = model.doGenerateCalls[1]?.prompt ?? []
  for (const message of prompt) {
    if (message.role !== 'tool') continue
    for (const part of message.content) if (part.type === 'tool-result') return part.output
  }
  return undefined
}

describe('acgs-auth0/vercel-ai withConstitutionalTokenVault', () => {
  it('governs a tool called by generateText with the mock model; same description and schema', async () => {
    const vault = new FakeVault()
    const original = listIssues()
    const governed = withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:read'],
      toolName: 'list_issues',
    })(original)
    expect(governed.description).toBe(original.description)
    expect(governed.inputSchema).toBe(original.inputSchema)
    const model = new MockLanguageModelV3({
      doGenerate: [callTool('list_issues', { repo: 'acme/api' }), say('done')],
    })
    const result = await runAsAgent(planner, () =>
      generateText({ model, tools: { list_issues: governed }, prompt: 'issues?', stopWhen: stepCountIs(3) }),
    )
    expect(result.text).toBe('done')
    expect(result.steps[0]?.toolResults.map((r) => r.output)).toEqual([
      { repo: 'acme/api', token: plannerToken },
    ])
    expect(vault.requests).toEqual([
      {
        agentId: 'planner',
        role: 'EXECUTIVE',
        connection: 'github',
        scopes: ['repo:read'],
        toolName: 'list_issues',
      },
    ])
  })

  it('surfaces a denial as a tool-error whose message the model reads; execute does not run', async () => {
    const vault = new FakeVault({
      deny: () =>
        new ConstitutionalScopeViolation('repo:write is not permitted for role EXECUTIVE on github', [
          'repo:write',
        ]),
    })
    const execute = vi.fn(async () => 'pushed')
    const push = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:write'] })(
      tool({ description: 'Push', inputSchema: z.object({}), execute }),
    )
    const model = new MockLanguageModelV3({ doGenerate: [callTool('push', {}), say('sorry')] })
    const result = await runAsAgent(planner, () =>
      generateText({ model, tools: { push }, prompt: 'push', stopWhen: stepCountIs(3) }),
    )
    const errors = result.steps[0]?.content.filter((p) => p.type === 'tool-error') ?? []
    expect(errors).toHaveLength(1)
    expect((errors[0] as { error: unknown }).error).toBeInstanceOf(ConstitutionalScopeViolation)
    expect(toolResultSentToModel(model)).toEqual({
      type: 'error-text',
      value: 'repo:write is not permitted for role EXECUTIVE on github',
    })
    expect(execute).not.toHaveBeenCalled()
  })

  it('surfaces a step-up as a tool-error with the stepUpId, and resumes with getStepUpId', async () => {
    const vault = new FakeVault({ stepUpScopes: ['repo:write'] })
    let resumeWith: string | undefined
    const push = withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:write'],
      getStepUpId: () => resumeWith,
    })(
      tool({
        description: 'Push',
        inputSchema: z.object({}),
        execute: async () => `pushed with ${getTokenVaultCredentials().accessToken}`,
      }),
    )
    const model = new MockLanguageModelV3({ doGenerate: [callTool('push', {}), say('waiting for approval')] })
    const first = await runAsAgent(planner, () =>
      generateText({ model, tools: { push }, prompt: 'push', stopWhen: stepCountIs(3) }),
    )
    const error = toolError(first)
    expect(error).toBeInstanceOf(StepUpAuthRequiredError)
    expect((error as StepUpAuthRequiredError).stepUpId).toBe('su-1')
    expect(toolResultSentToModel(model)).toMatchObject({
      type: 'error-text',
      value: expect.stringMatching(
        /needs a person to approve repo:write on github first \(step-up id su-1\)/,
      ),
    })

    vault.approved.add('su-1')
    resumeWith = 'su-1'
    const model2 = new MockLanguageModelV3({ doGenerate: [callTool('push', {}), say('pushed')] })
    const second = await runAsAgent(planner, () =>
      generateText({ model: model2, tools: { push }, prompt: 'push', stopWhen: stepCountIs(3) }),
    )
    expect(second.steps[0]?.toolResults[0]?.output).toBe(`pushed with ${plannerToken}`)
    expect(vault.requests.map((r) => r.stepUpId)).toEqual([undefined, 'su-1'])
  })

  it('fails with AgentContextMissingError (as a tool-error) outside runAsAgent without resolvers', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      listIssues(),
    )
    const model = new MockLanguageModelV3({ doGenerate: [callTool('list_issues', { repo: 'a' }), say('no')] })
    const result = await generateText({
      model,
      tools: { list_issues: governed },
      prompt: 'x',
      stopWhen: stepCountIs(3),
    })
    const error = toolError(result)
    expect(error).toBeInstanceOf(AgentContextMissingError)
    expect(vault.requests).toHaveLength(0)
  })

  it('passes the abort signal and the execute options to the exchange and the resolvers', async () => {
    const seen: TokenVaultRequest[] = []
    const vault = {
      exchange: async (r: TokenVaultRequest) => {
        seen.push(r)
        return new FakeVault().exchange(r)
      },
    }
    const ids: string[] = []
    const governed = withConstitutionalTokenVault(vault, {
      connection: 'github',
      scopes: ['repo:read'],
      getAgentContext: (_input, options) => {
        ids.push(options.toolCallId)
        return { agentId: 'planner', role: 'EXECUTIVE' }
      },
      getSubjectToken: () => ({ refreshToken: 'rt_planner' }),
    })(listIssues())
    const controller = new AbortController()
    const out = await governed.execute?.(
      { repo: 'a' },
      { toolCallId: 'tc-7', messages: [], abortSignal: controller.signal },
    )
    expect(out).toEqual({ repo: 'a', token: plannerToken })
    expect(seen[0]?.signal).toBe(controller.signal)
    expect(ids).toEqual(['tc-7'])
  })

  it('keeps the credentials through every step of a streaming execute and retires them after', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      tool({
        description: 'Stream',
        inputSchema: z.object({}),
        async *execute() {
          yield { step: 1, token: getTokenVaultCredentials().accessToken }
          await new Promise((resolve) => setImmediate(resolve))
          yield { step: 2, token: getTokenVaultCredentials().accessToken }
        },
      }),
    )
    const model = new MockLanguageModelV3({ doGenerate: [callTool('stream', {}), say('ok')] })
    const result = await runAsAgent(planner, () =>
      generateText({ model, tools: { stream: governed }, prompt: 'x', stopWhen: stepCountIs(3) }),
    )
    expect(result.steps[0]?.toolResults[0]?.output).toEqual({ step: 2, token: plannerToken })
  })

  it('keeps 100 concurrent tool calls of different agents apart', async () => {
    const vault = new FakeVault()
    const governed = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
      listIssues(),
    )
    const outs = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        runAsAgent({ agentId: `agent-${i}`, role: 'EXECUTIVE', refreshToken: `rt_${i}` }, async () => {
          const model = new MockLanguageModelV3({
            doGenerate: [callTool('list_issues', { repo: `r${i}` }), say('ok')],
          })
          const r = await generateText({
            model,
            tools: { list_issues: governed },
            prompt: 'x',
            stopWhen: stepCountIs(3),
          })
          return { i, output: r.steps[0]?.toolResults[0]?.output }
        }),
      ),
    )
    for (const { i, output } of outs) {
      expect(output).toEqual({
        repo: `r${i}`,
        token: fakeToken({ connection: 'github', refreshToken: `rt_${i}` }),
      })
    }
  })

  it('refuses a tool without execute', () => {
    const vault = new FakeVault()
    expect(() =>
      withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })(
        tool({ description: 'client side', inputSchema: z.object({}) }) as unknown as Tool,
      ),
    ).toThrow(TypeError)
  })
})
