/**
 * A Vercel AI SDK agent whose GitHub tools are governed by the constitution, end to end and
 * without any model API key:
 *
 *   npm run example:vercel-ai        (npx tsx examples/vercel-ai-agent.ts)
 *
 * - the Auth0 Token Vault emulator runs in-process on 127.0.0.1;
 * - the policy is examples/constitution.yaml (planner acts as EXECUTIVE: repo:read yes,
 *   repo:write never);
 * - `generateText` runs with the AI SDK's `MockLanguageModelV3`, scripted to list issues
 *   (granted) and then to comment on one (repo:write: denied); the model reads the denial as
 *   the tool's error result and answers accordingly.
 *
 * No token is printed: only its audit fingerprint.
 */
import { fileURLToPath } from 'node:url'
import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from '@ai-sdk/provider'
import { generateText, stepCountIs, tool } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { z } from 'zod'
import { fingerprintToken, TokenAuditLog } from '../src/audit/index.js'
import { startTokenVaultEmulator } from '../src/emulator/index.js'
import {
  getTokenVaultCredentials,
  runAsAgent,
  withConstitutionalTokenVault,
} from '../src/integrations/vercel-ai.js'
import { MACIScopePolicy } from '../src/policy/index.js'
import { ConstitutionalTokenVault } from '../src/vault/index.js'

const client = { clientId: 'acgs-example-client', clientSecret: 'example-client-secret-0123456789' }
const alice = { userId: 'auth0|alice', refreshToken: 'rt_alice_example_0123456789' }

const usage = {
  inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 5, text: 5, reasoning: 0 },
}

/** The model's script: one answer per step, the last one reading the tool error it was sent. */
function scriptedModel(): MockLanguageModelV3 {
  const toolCall = (toolCallId: string, toolName: string, input: unknown): LanguageModelV3GenerateResult => ({
    content: [{ type: 'tool-call', toolCallId, toolName, input: JSON.stringify(input) }],
    finishReason: { unified: 'tool-calls', raw: undefined },
    usage,
    warnings: [],
  })
  const steps = [
    () => toolCall('call_1', 'list_issues', { repo: 'acme/api' }),
    () => toolCall('call_2', 'comment_on_issue', { repo: 'acme/api', issue: 42, body: 'Looking into it.' }),
    (options: LanguageModelV3CallOptions): LanguageModelV3GenerateResult => {
      const last = options.prompt.at(-1)
      const part = last?.role === 'tool' ? last.content.find((p) => p.type === 'tool-result') : undefined
      const reason = part?.output.type === 'error-text' ? part.output.value : 'no error'
      return {
        content: [{ type: 'text', text: `Issue #42 is open. I could not comment on it: ${reason}` }],
        finishReason: { unified: 'stop', raw: undefined },
        usage,
        warnings: [],
      }
    },
  ]
  let step = 0
  return new MockLanguageModelV3({
    doGenerate: async (options) => {
      const next = steps[step++]
      if (next === undefined) throw new Error('the script is over')
      return next(options)
    },
  })
}

const emulator = await startTokenVaultEmulator({
  clients: [client],
  users: [{ ...alice, connections: { github: ['read:user', 'repo:read', 'repo:write'] } }],
})

try {
  const policy = await MACIScopePolicy.fromYaml(
    fileURLToPath(new URL('./constitution.yaml', import.meta.url)),
  )
  const audit = await TokenAuditLog.open('memory:')
  const vault = new ConstitutionalTokenVault({
    policy,
    audit,
    env: {},
    auth0: { domain: emulator.url, ...client },
  })

  const listIssues = withConstitutionalTokenVault(vault, {
    connection: 'github',
    scopes: ['repo:read'],
    toolName: 'list_issues',
  })(
    tool({
      description: 'List open issues of a repository',
      inputSchema: z.object({ repo: z.string() }),
      execute: async ({ repo }) => {
        const { accessToken, scope } = getTokenVaultCredentials()
        console.log(
          `  [list_issues] GitHub call for ${repo} with ${fingerprintToken(accessToken)} (${scope.join(' ')})`,
        )
        return [{ number: 42, title: 'Crash on empty config' }]
      },
    }),
  )
  const commentOnIssue = withConstitutionalTokenVault(vault, {
    connection: 'github',
    scopes: ['repo:write'],
    toolName: 'comment_on_issue',
  })(
    tool({
      description: 'Comment on an issue',
      inputSchema: z.object({ repo: z.string(), issue: z.number(), body: z.string() }),
      execute: async ({ repo, issue }) => `commented on ${repo}#${issue}`,
    }),
  )

  console.log('planner (EXECUTIVE) asks the model about acme/api')
  const result = await runAsAgent(
    { agentId: 'planner', role: 'EXECUTIVE', refreshToken: alice.refreshToken, userId: alice.userId },
    () =>
      generateText({
        model: scriptedModel(),
        tools: { list_issues: listIssues, comment_on_issue: commentOnIssue },
        prompt: 'What is open on acme/api? Tell the reporter we are on it.',
        stopWhen: stepCountIs(5),
      }),
  )
  for (const [i, step] of result.steps.entries()) {
    for (const part of step.content) {
      if (part.type === 'tool-result')
        console.log(`  step ${i + 1}: ${part.toolName} → ${JSON.stringify(part.output)}`)
      if (part.type === 'tool-error') {
        const code = (part.error as { code?: string }).code
        console.log(
          `  step ${i + 1}: ${part.toolName} → tool-error ${code}: ${(part.error as Error).message}`,
        )
      }
    }
  }
  console.log(`the model says: ${result.text}`)

  console.log('audit log:')
  for (const e of await audit.query()) {
    console.log(
      `  #${e.seq} ${e.outcome} ${e.agentId}/${e.role} ${e.connection} [${e.requestedScopes.join(' ')}]`,
    )
  }
} finally {
  await emulator.close()
}
