/**
 * A LangGraph agent whose GitHub tools are governed by the constitution, end to end and
 * without any model API key:
 *
 *   npm run example:langchain        (npx tsx examples/langchain-agent.ts)
 *
 * - the Auth0 Token Vault emulator runs in-process on 127.0.0.1;
 * - the policy is examples/constitution.yaml (builder acts as IMPLEMENTER; repo:write is
 *   high-risk and only a JUDICIAL identity may approve it);
 * - a scripted chat model plays the agent: it lists issues (repo:read, granted at once), then
 *   pushes a fix (repo:write), which pauses the graph with a step-up interrupt;
 * - a JUDICIAL reviewer approves from the pending queue, and the graph resumes from its
 *   checkpoint and pushes.
 *
 * No token is printed: only its audit fingerprint.
 */
import { fileURLToPath } from 'node:url'
import { BaseChatModel } from '@langchain/core/language_models/chat_models'
import { AIMessage, type BaseMessage, ToolMessage } from '@langchain/core/messages'
import type { ChatResult } from '@langchain/core/outputs'
import { tool } from '@langchain/core/tools'
import { Command, MemorySaver, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph'
import { ToolNode, toolsCondition } from '@langchain/langgraph/prebuilt'
import { z } from 'zod'
import { fingerprintToken, TokenAuditLog } from '../src/audit/index.js'
import { startTokenVaultEmulator } from '../src/emulator/index.js'
import {
  getTokenVaultCredentials,
  type StepUpInterruptPayload,
  withConstitutionalTokenVault,
} from '../src/integrations/langchain.js'
import { MACIScopePolicy } from '../src/policy/index.js'
import { PendingApprovals } from '../src/step-up/index.js'
import { ConstitutionalTokenVault } from '../src/vault/index.js'

/** A chat model that plays a fixed script: the n-th answer is the n-th entry. Binds any tools. */
class ScriptedChatModel extends BaseChatModel {
  readonly #script: AIMessage[]

  constructor(script: AIMessage[]) {
    super({})
    this.#script = script
  }

  _llmType(): string {
    return 'scripted'
  }

  override bindTools(): this {
    return this
  }

  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    const turn = messages.filter((m) => m.getType() === 'ai').length
    const message = this.#script[turn] ?? new AIMessage('(the script is over)')
    return { generations: [{ text: typeof message.content === 'string' ? message.content : '', message }] }
  }
}

const client = { clientId: 'acgs-example-client', clientSecret: 'example-client-secret-0123456789' }
const alice = { userId: 'auth0|alice', refreshToken: 'rt_alice_example_0123456789' }

const emulator = await startTokenVaultEmulator({
  clients: [client],
  users: [{ ...alice, connections: { github: ['read:user', 'repo:read', 'repo:write'] } }],
})

try {
  const policy = await MACIScopePolicy.fromYaml(
    fileURLToPath(new URL('./constitution.yaml', import.meta.url)),
  )
  const audit = await TokenAuditLog.open('memory:')
  const approvals = new PendingApprovals()
  const vault = new ConstitutionalTokenVault({
    policy,
    audit,
    env: {},
    auth0: { domain: emulator.url, ...client },
    stepUp: { approver: approvals, mode: 'interrupt' },
  })

  const governed = (scopes: string[]) => withConstitutionalTokenVault(vault, { connection: 'github', scopes })
  const listIssues = governed(['repo:read'])(
    tool(
      async ({ repo }: { repo: string }) => {
        const { accessToken, scope } = getTokenVaultCredentials()
        console.log(
          `  [list_issues] GitHub call for ${repo} with ${fingerprintToken(accessToken)} (${scope.join(' ')})`,
        )
        return JSON.stringify([{ number: 42, title: 'Crash on empty config' }])
      },
      {
        name: 'list_issues',
        description: 'List open issues of a repository',
        schema: z.object({ repo: z.string() }),
      },
    ),
  )
  const pushCommit = governed(['repo:write'])(
    tool(
      async ({ repo, message }: { repo: string; message: string }) => {
        const { accessToken, scope } = getTokenVaultCredentials()
        console.log(
          `  [push_commit] GitHub call for ${repo} with ${fingerprintToken(accessToken)} (${scope.join(' ')})`,
        )
        return `pushed "${message}" to ${repo}`
      },
      {
        name: 'push_commit',
        description: 'Push a commit to a repository',
        schema: z.object({ repo: z.string(), message: z.string() }),
      },
    ),
  )
  const tools = [listIssues, pushCommit]

  const model = new ScriptedChatModel([
    new AIMessage({
      content: '',
      tool_calls: [{ id: 'call_1', name: 'list_issues', args: { repo: 'acme/api' }, type: 'tool_call' }],
    }),
    new AIMessage({
      content: '',
      tool_calls: [
        {
          id: 'call_2',
          name: 'push_commit',
          args: { repo: 'acme/api', message: 'Fix #42: handle empty config' },
          type: 'tool_call',
        },
      ],
    }),
    new AIMessage('Issue #42 is fixed and the commit is pushed to acme/api.'),
  ]).bindTools()

  const agent = new StateGraph(MessagesAnnotation)
    .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('tools', new ToolNode(tools))
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', toolsCondition, ['tools', '__end__'])
    .addEdge('tools', 'agent')
    .compile({ checkpointer: new MemorySaver() })

  // The agent's identity and the user's refresh token travel in the run's configurable.
  const config = {
    configurable: {
      thread_id: 'example-thread-1',
      agent_id: 'builder',
      maci_role: 'IMPLEMENTER',
      user_id: alice.userId,
      _credentials: { refresh_token: alice.refreshToken },
    },
  }

  console.log('1. builder (IMPLEMENTER) starts on "Fix issue #42 in acme/api"')
  const first = await agent.invoke(
    { messages: [{ role: 'user', content: 'Fix issue #42 in acme/api' }] },
    config,
  )
  const pause = (first as { __interrupt__?: { value: unknown }[] }).__interrupt__?.[0]?.value as
    | StepUpInterruptPayload
    | undefined
  if (pause === undefined) throw new Error('expected a step-up interrupt')
  console.log(`2. the graph paused for a step-up: ${JSON.stringify(pause)}`)

  const [pending] = approvals.list()
  if (pending === undefined) throw new Error('expected a pending approval')
  console.log(`3. reviewer (JUDICIAL) sees "${pending.request.bindingMessage}" and approves ${pending.id}`)
  approvals.approve(pending.id, { id: 'reviewer', role: 'JUDICIAL' })

  console.log('4. the graph resumes from its checkpoint')
  const done = await agent.invoke(new Command({ resume: pause }), config)
  for (const m of done.messages) {
    if (m instanceof ToolMessage) console.log(`   tool ${m.name} (${m.status}): ${String(m.content)}`)
  }
  console.log(`5. the agent says: ${String(done.messages.at(-1)?.content)}`)

  console.log('6. audit log:')
  for (const e of await audit.query()) {
    console.log(
      `   #${e.seq} ${e.outcome} ${e.agentId}/${e.role} ${e.connection} [${e.requestedScopes.join(' ')}]`,
    )
  }
  const verified = await audit.verify()
  console.log(`   chain verifies: ${verified.ok} (${verified.entries} entries)`)
} finally {
  await emulator.close()
}
