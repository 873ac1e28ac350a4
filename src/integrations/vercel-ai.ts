/**
 * `acgs-auth0/vercel-ai`: govern Vercel AI SDK tools with the constitution.
 *
 * A governed tool runs the vault's exchange before the tool's `execute`. The agent comes from
 * the resolvers, else from {@link runAsAgent}. A denial or a pending step-up rejects `execute`
 * with the vault's error: `generateText` / `streamText` record it as a `tool-error` part and
 * send its message to the model as the tool's result, so the model reads what the
 * constitution decided.
 *
 * @see https://ai-sdk.dev/docs/ai-sdk-core/tools-and-tool-calling#handling-errors
 * @packageDocumentation
 */
import type { Tool, ToolExecutionOptions } from 'ai'
import { StepUpAuthRequiredError } from '../errors.js'
import type { TokenVaultResponse } from '../vault/types.js'
import { createCredentials, runWithCredentials } from './context.js'
import {
  checkOptions,
  type MaybePromise,
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

/** Options of the Vercel AI SDK adapter. Resolvers receive the tool input and the `execute` options. */
export interface VercelAIToolOptions
  extends WithConstitutionalTokenVaultOptions<[input: unknown, options: ToolExecutionOptions]> {
  /**
   * The `stepUpId` to resume an interrupted step-up with (from the `StepUpAuthRequiredError`
   * of an earlier call, once the approver decided). `undefined` starts a new exchange.
   */
  getStepUpId?:
    | ((input: unknown, options: ToolExecutionOptions) => MaybePromise<string | undefined>)
    | undefined
}

/** Wraps AI SDK tools; see {@link withConstitutionalTokenVault}. */
export type VercelAIToolWrapper = <T extends Tool>(tool: T) => T

/** The model reads only the message: give a pending step-up one that says what happens next. */
function explainStepUp(err: unknown, toolName: string | undefined): unknown {
  if (!(err instanceof StepUpAuthRequiredError)) return err
  const what = toolName ? `Tool "${toolName}"` : 'This tool'
  return new StepUpAuthRequiredError(
    `${what} needs a person to approve ${err.scopes.join(' ')}${err.connection ? ` on ${err.connection}` : ''} ` +
      `first (step-up id ${err.stepUpId}); it can be called again once approved. ${err.message}`,
    {
      stepUpId: err.stepUpId,
      scopes: err.scopes,
      bindingMessage: err.bindingMessage,
      ...(err.connection !== undefined ? { connection: err.connection } : {}),
    },
    { cause: err },
  )
}

function isAsyncGeneratorFunction(fn: unknown): boolean {
  return Object.prototype.toString.call(fn) === '[object AsyncGeneratorFunction]'
}

/** Iterates `iterable` with the credentials ambient in every step; retires them at the end. */
async function* withCredentialsEachStep(
  response: TokenVaultResponse,
  toolName: string,
  start: () => AsyncIterable<unknown>,
): AsyncGenerator<unknown, void, undefined> {
  const { credentials, end } = createCredentials(response, toolName)
  const within = <R>(fn: () => R): R => runWithCredentials(credentials, fn)
  try {
    const iterator = within(() => start()[Symbol.asyncIterator]())
    for (;;) {
      const step = await within(() => iterator.next())
      if (step.done) return
      yield step.value
    }
  } finally {
    end()
  }
}

/**
 * Governs Vercel AI SDK tools (`tool({ description, inputSchema, execute })` from `ai`) with the
 * constitution. The returned function takes a tool and returns a copy with the same
 * description, schemas and options whose `execute` first runs the governed exchange (with the
 * call's `abortSignal`) and then the original `execute`, inside which
 * `getTokenVaultCredentials()` returns the token. A streaming `execute` (an
 * `async function*`, for preliminary results) stays a generator and keeps the credentials for
 * every step. The AI SDK keeps a tool's name outside the tool (the key in `tools`), so pass
 * `toolName` for the audit log to record one.
 *
 * A denial, a missing agent context or a step-up that is not approved rejects `execute` with
 * the vault's error; the AI SDK turns it into a `tool-error` part and the model sees its
 * message. In interrupt mode the `StepUpAuthRequiredError` (with `stepUpId`) is in that part's
 * `error`, its message telling the model that a person must approve first; once approved,
 * call again with {@link VercelAIToolOptions.getStepUpId} returning the id.
 *
 * @param policyOrVault - a `MACIScopePolicy` (a vault is built from the environment) or a `ConstitutionalTokenVault`
 * @param options - connection, scopes, resolvers `(input, executeOptions)`, `getStepUpId`
 * @throws TypeError when the tool has no `execute` (there is nothing to govern)
 *
 * @example
 * ```ts
 * import { withConstitutionalTokenVault, getTokenVaultCredentials, runAsAgent } from 'acgs-auth0/vercel-ai'
 * const withGithub = withConstitutionalTokenVault(vault, { connection: 'github', scopes: ['repo:read'] })
 * const listIssues = withGithub(tool({
 *   description: 'List open issues',
 *   inputSchema: z.object({ repo: z.string() }),
 *   execute: async ({ repo }) => fetchIssues(repo, getTokenVaultCredentials().accessToken),
 * }))
 * await runAsAgent({ agentId: 'planner', role: 'EXECUTIVE', refreshToken }, () =>
 *   generateText({ model, tools: { listIssues }, prompt: 'What is open on acme/api?' }))
 * ```
 */
export function withConstitutionalTokenVault(
  policyOrVault: PolicyOrVault,
  options: VercelAIToolOptions,
): VercelAIToolWrapper {
  checkOptions(options)
  if (options.getStepUpId !== undefined && typeof options.getStepUpId !== 'function') {
    throw new TypeError('withConstitutionalTokenVault: options.getStepUpId must be a function')
  }
  const vault = toVault(policyOrVault)
  return <T extends Tool>(original: T): T => {
    const execute = (original as { execute?: unknown }).execute
    if (typeof execute !== 'function') {
      throw new TypeError('withConstitutionalTokenVault: the tool has no execute function to govern')
    }
    const run = execute as (input: unknown, options: ToolExecutionOptions) => unknown
    const toolName = options.toolName ?? (original as { title?: unknown }).title
    const name = typeof toolName === 'string' && toolName.length > 0 ? toolName : undefined
    const exchange = async (
      input: unknown,
      execOptions: ToolExecutionOptions,
    ): Promise<TokenVaultResponse> => {
      const stepUpId = options.getStepUpId ? await options.getStepUpId(input, execOptions) : undefined
      const request = await resolveRequest(options, [input, execOptions], {
        toolName: name,
        stepUpId: stepUpId || undefined,
        signal: execOptions?.abortSignal,
      })
      try {
        return await vault.exchange(request)
      } catch (err) {
        throw explainStepUp(err, name)
      }
    }
    // The AI SDK decides synchronously whether `execute` streams, so a streaming tool stays a generator.
    const governedExecute = isAsyncGeneratorFunction(execute)
      ? async function* (
          input: unknown,
          execOptions: ToolExecutionOptions,
        ): AsyncGenerator<unknown, void, undefined> {
          const response = await exchange(input, execOptions)
          yield* withCredentialsEachStep(
            response,
            name ?? 'tool',
            () => run.call(original, input, execOptions) as AsyncIterable<unknown>,
          )
        }
      : async (input: unknown, execOptions: ToolExecutionOptions): Promise<unknown> => {
          const response = await exchange(input, execOptions)
          return runGoverned(response, name ?? 'tool', () => run.call(original, input, execOptions))
        }
    return { ...original, execute: governedExecute } as T
  }
}
