/**
 * `acgs-auth0/langchain`: govern LangChain.js tools with the constitution.
 *
 * A governed tool runs the vault's exchange before the tool's own function. The agent comes
 * from the resolvers, else from the run's `config.configurable` (`agent_id`, `maci_role`,
 * `_credentials.refresh_token` / `_credentials.access_token`, `user_id`, `login_hint`), else from
 * {@link runAsAgent}. In interrupt mode a step-up becomes a LangGraph `interrupt()`; denials
 * become an error `ToolMessage` the model reads.
 *
 * @see https://langchain-ai.github.io/langgraphjs/concepts/human_in_the_loop/
 * @packageDocumentation
 */
import { ToolMessage } from '@langchain/core/messages'
import type { RunnableConfig } from '@langchain/core/runnables'
import type { StructuredToolInterface } from '@langchain/core/tools'
import {
  AgentContextMissingError,
  ConfigurationError,
  StepUpAuthRequiredError,
  TokenVaultGovernanceError,
} from '../errors.js'
import type { TokenVaultResponse } from '../vault/types.js'
import {
  type ContextSource,
  checkOptions,
  type PolicyOrVault,
  resolveRequest,
  runGoverned,
  toVault,
  type WithConstitutionalTokenVaultOptions,
} from './wrap.js'

export {
  type AgentContext,
  getTokenVaultCredentials,
  runAsAgent,
  type TokenVaultCredentials,
} from './context.js'

/** The value a governed tool passes to LangGraph's `interrupt()` when a step-up is needed. */
export interface StepUpInterruptPayload {
  type: 'acgs_step_up_required'
  /** Resume after it is decided: `new Command({ resume: payload })` (any object with this `stepUpId`; in-process any value). */
  stepUpId: string
  connection: string
  scopes: string[]
  /** The short text the approver is shown. */
  bindingMessage: string
  /** A sentence for people and models. */
  message: string
  toolName: string
}

/** Options of the LangChain adapter. Resolvers receive the tool input and the run's config. */
export interface LangChainToolOptions
  extends Omit<WithConstitutionalTokenVaultOptions<[input: unknown, config: RunnableConfig]>, 'toolName'> {
  /**
   * What a denial does. `'message'`: the tool returns an error `ToolMessage` (status `error`,
   * the error's `toJSON()` as `artifact`) — a plain string when invoked without a tool call —
   * so the model reads why and the graph goes on. `'throw'`: the vault's error is thrown.
   * Missing agent context and configuration errors are always thrown.
   * @defaultValue `'message'`
   */
  onDenied?: 'message' | 'throw' | undefined
  /** The name the audit log records. @defaultValue the tool's `name` */
  toolName?: string | undefined
}

/** Wraps LangChain tools; see {@link withConstitutionalTokenVault}. */
export type LangChainToolWrapper = <T extends StructuredToolInterface>(tool: T) => T

/** Remembered step-ups are bounded: a graph that is never resumed must not grow memory. */
const MAX_REMEMBERED = 1000
const MAX_ROUNDS = 16

type Configurable = Record<string, unknown>

function configurableOf(config: RunnableConfig | undefined): Configurable {
  const c = config?.configurable
  return typeof c === 'object' && c !== null ? (c as Configurable) : {}
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function sourceFromConfigurable(c: Configurable): ContextSource {
  const creds =
    typeof c._credentials === 'object' && c._credentials !== null ? (c._credentials as Configurable) : {}
  return {
    agentId: str(c.agent_id),
    role: str(c.maci_role),
    refreshToken: str(creds.refresh_token),
    accessToken: str(creds.access_token),
    userId: str(c.user_id),
    loginHint: str(c.login_hint),
  }
}

function toolCallIdOf(config: RunnableConfig | undefined): string | undefined {
  const id = (config as { toolCall?: { id?: unknown } } | undefined)?.toolCall?.id
  return typeof id === 'string' && id.length > 0 ? id : undefined
}

/** Identifies one tool call in one graph task, stable across the re-run that follows a resume. */
function stepUpKey(config: RunnableConfig | undefined): string | undefined {
  const c = configurableOf(config)
  const thread = str(c.thread_id)
  if (thread === undefined) return undefined
  return JSON.stringify([thread, str(c.checkpoint_ns) ?? '', toolCallIdOf(config) ?? ''])
}

function stepUpIdFromResume(value: unknown): string | undefined {
  if (typeof value === 'object' && value !== null) {
    const id = (value as { stepUpId?: unknown }).stepUpId
    if (typeof id === 'string' && id.length > 0) return id
  }
  return undefined
}

function isAlwaysThrown(err: unknown): boolean {
  return (
    !(err instanceof TokenVaultGovernanceError) ||
    err instanceof AgentContextMissingError ||
    err instanceof ConfigurationError
  )
}

function denialText(err: TokenVaultGovernanceError, toolName: string, connection: string): string {
  if (err instanceof StepUpAuthRequiredError) {
    return (
      `Tool "${toolName}" needs a step-up approval for ${err.scopes.join(' ')} on ${connection} ` +
      `(step-up id ${err.stepUpId}) and could not pause for it here. ${err.message} [${err.code}]`
    )
  }
  return `The constitution refused tool "${toolName}" a ${connection} token: ${err.message} [${err.code}]`
}

type LangGraphModule = typeof import('@langchain/langgraph')
let langgraph: Promise<LangGraphModule> | undefined
const NOT_PAUSABLE = Symbol('not pausable')

/**
 * Pauses the graph for the step-up (`interrupt()` throws LangGraph's `GraphInterrupt`) and, on
 * the re-run that follows a resume, returns the resume value. Outside a graph with a
 * checkpointer, or without `@langchain/langgraph` installed, it returns {@link NOT_PAUSABLE}.
 */
async function pauseForStepUp(payload: StepUpInterruptPayload): Promise<unknown> {
  let mod: LangGraphModule
  try {
    langgraph ??= import('@langchain/langgraph')
    mod = await langgraph
  } catch {
    return NOT_PAUSABLE
  }
  try {
    return mod.interrupt(payload)
  } catch (err) {
    if (mod.isGraphInterrupt(err)) throw err
    return NOT_PAUSABLE
  }
}

function errorFromPayload(payload: StepUpInterruptPayload): StepUpAuthRequiredError {
  return new StepUpAuthRequiredError(payload.message, {
    stepUpId: payload.stepUpId,
    scopes: payload.scopes,
    bindingMessage: payload.bindingMessage,
    connection: payload.connection,
  })
}

function payloadOf(
  err: StepUpAuthRequiredError,
  toolName: string,
  connection: string,
): StepUpInterruptPayload {
  return {
    type: 'acgs_step_up_required',
    stepUpId: err.stepUpId,
    connection: err.connection ?? connection,
    scopes: [...err.scopes],
    bindingMessage: err.bindingMessage,
    message: `Tool "${toolName}" needs approval for ${err.scopes.join(' ')} on ${err.connection ?? connection}: ${err.message}`,
    toolName,
  }
}

/**
 * Governs LangChain.js tools with the constitution. The returned function takes a tool — from
 * `tool()` in `@langchain/core/tools` or any `StructuredTool` instance — and returns a tool of
 * the same kind: an object whose prototype is the original tool, so name, description, schema,
 * `returnDirect`, `responseFormat`, callbacks and the class itself (`instanceof`) are the
 * original's; only its `_call` runs the governed exchange first. Inside the tool's function
 * `getTokenVaultCredentials()` returns the token.
 *
 * Step-up: with a vault in interrupt mode, the tool calls LangGraph's `interrupt()` with a
 * JSON-serializable {@link StepUpInterruptPayload}. Resume the graph (same `thread_id`) with
 * `new Command({ resume: payload })` once the approver decided: LangGraph re-runs the tool
 * node, the tool gets the resume value back from `interrupt()` and calls `exchange` again with
 * the `stepUpId`. If it is still undecided, the graph pauses again; if it was denied, the
 * denial is reported like any other. The step-up id is also remembered in-process per thread,
 * task and tool call, so any resume value works in the same process; a resume in another
 * process must carry the `stepUpId`.
 *
 * Denials: see {@link LangChainToolOptions.onDenied}. A `ToolNode` also turns thrown errors
 * into error messages by default (`handleToolErrors`), but the explicit message says what the
 * constitution decided instead of "Please fix your mistakes".
 *
 * @param policyOrVault - a `MACIScopePolicy` (a vault is built from the environment) or a `ConstitutionalTokenVault`
 * @param options - connection, scopes, resolvers `(input, config)`, `onDenied`
 *
 * @example
 * ```ts
 * import { withConstitutionalTokenVault, getTokenVaultCredentials } from 'acgs-auth0/langchain'
 * const withGithub = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })
 * const listIssues = withGithub(tool(async ({ repo }) => {
 *   const { accessToken } = getTokenVaultCredentials()
 *   return fetchIssues(repo, accessToken)
 * }, { name: 'list_issues', description: 'List open issues', schema: z.object({ repo: z.string() }) }))
 * await listIssues.invoke({ repo: 'acme/api' }, {
 *   configurable: { agent_id: 'planner', maci_role: 'EXECUTIVE', _credentials: { refresh_token } },
 * })
 * ```
 */
export function withConstitutionalTokenVault(
  policyOrVault: PolicyOrVault,
  options: LangChainToolOptions,
): LangChainToolWrapper {
  checkOptions(options)
  if (options.onDenied !== undefined && options.onDenied !== 'message' && options.onDenied !== 'throw') {
    throw new TypeError("withConstitutionalTokenVault: options.onDenied must be 'message' or 'throw'")
  }
  const vault = toVault(policyOrVault)
  const onDenied = options.onDenied ?? 'message'
  const remembered = new Map<string, StepUpInterruptPayload>()
  const remember = (key: string | undefined, payload: StepUpInterruptPayload): void => {
    if (key === undefined) return
    remembered.delete(key)
    remembered.set(key, payload)
    if (remembered.size > MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string)
  }

  return <T extends StructuredToolInterface>(original: T): T => {
    if (
      typeof original !== 'object' ||
      original === null ||
      typeof (original as Partial<Callable>)._call !== 'function'
    ) {
      throw new TypeError(
        'withConstitutionalTokenVault: expected a LangChain tool (tool() or a StructuredTool)',
      )
    }
    const toolName = options.toolName ?? original.name
    const callOriginal = (original as unknown as Callable)._call.bind(original)
    const responseFormat = (original as { responseFormat?: unknown }).responseFormat

    const deny = (err: unknown, config: RunnableConfig | undefined): unknown => {
      if (onDenied === 'throw' || isAlwaysThrown(err)) throw err
      const error = err as TokenVaultGovernanceError
      const text = denialText(error, toolName, options.connection)
      const artifact = error.toJSON()
      if (responseFormat === 'content_and_artifact') return [text, artifact]
      const toolCallId = toolCallIdOf(config)
      if (toolCallId === undefined) return text
      return new ToolMessage({
        status: 'error',
        content: text,
        tool_call_id: toolCallId,
        name: original.name,
        artifact,
      })
    }

    const governedCall = async (
      input: unknown,
      runManager: unknown,
      config?: RunnableConfig,
    ): Promise<unknown> => {
      const key = stepUpKey(config)
      let request: Awaited<ReturnType<typeof resolveRequest>>
      try {
        request = await resolveRequest(options, [input, config ?? {}], {
          toolName,
          signal: config?.signal,
          sources: [sourceFromConfigurable(configurableOf(config))],
          hint: {
            identity: 'set configurable.agent_id and configurable.maci_role, pass getAgentContext',
            subject: 'set configurable._credentials.refresh_token, pass getSubjectToken',
          },
        })
      } catch (err) {
        return deny(err, config)
      }
      let pending = key === undefined ? undefined : remembered.get(key)
      let stepUp: StepUpAuthRequiredError | undefined
      let response: TokenVaultResponse | undefined
      for (let round = 0; response === undefined; round++) {
        if (pending !== undefined) {
          const resume = round < MAX_ROUNDS ? await pauseForStepUp(pending) : NOT_PAUSABLE
          if (resume === NOT_PAUSABLE) {
            if (key !== undefined) remembered.delete(key)
            return deny(stepUp ?? errorFromPayload(pending), config)
          }
          request.stepUpId = stepUpIdFromResume(resume) ?? pending.stepUpId
        }
        try {
          response = await vault.exchange(request)
        } catch (err) {
          if (err instanceof StepUpAuthRequiredError) {
            stepUp = err
            pending = payloadOf(err, toolName, options.connection)
            remember(key, pending)
            continue
          }
          if (key !== undefined) remembered.delete(key)
          return deny(err, config)
        }
      }
      if (key !== undefined) remembered.delete(key)
      return runGoverned(response, toolName, () => callOriginal(input, runManager, config))
    }

    const governed = Object.create(original) as T
    Object.defineProperty(governed, '_call', { value: governedCall, writable: true, configurable: true })
    return governed
  }
}

interface Callable {
  _call(input: unknown, runManager: unknown, config?: RunnableConfig): Promise<unknown>
}
