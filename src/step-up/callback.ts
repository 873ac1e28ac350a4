import type { ApprovalOptions, Approver, ApproverIdentity, StepUpDecision, StepUpRequest } from './types.js'

/** What a {@link CallbackApprover} function may answer: a full decision, or just yes / no. */
export type ApprovalCallback = (
  req: StepUpRequest,
  options: ApprovalOptions,
) => Promise<StepUpDecision | boolean> | StepUpDecision | boolean

/** Options of {@link CallbackApprover}. */
export interface CallbackApproverOptions {
  /**
   * The identity recorded when the callback answers a bare boolean. Give it the role your
   * approvers act in when the constitution lists `step_up.approvers`.
   * @defaultValue `{ id: 'callback' }`
   */
  identity?: ApproverIdentity | undefined
  /** @defaultValue `Date.now` */
  now?: (() => number) | undefined
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError')
}

function isDecision(value: unknown): value is StepUpDecision {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Partial<StepUpDecision>
  return (
    typeof v.approved === 'boolean' &&
    typeof v.approver === 'object' &&
    v.approver !== null &&
    typeof v.approver.id === 'string'
  )
}

/**
 * An approver that asks a function: a policy engine, a chat-ops bot, a test. The function gets
 * the request and an `AbortSignal` that fires when the vault stops waiting.
 *
 * The vault still applies the MACI rules to the answer: an approval by the requesting agent
 * itself, or by a role outside `step_up.approvers`, is refused.
 *
 * @example
 * ```ts
 * const approver = new CallbackApprover(async (req) => ({
 *   approved: await askSlack(req.bindingMessage),
 *   approver: { id: 'oncall-lead', role: 'JUDICIAL' },
 *   decidedAt: Date.now(),
 * }))
 * const vault = new ConstitutionalTokenVault({ policy, stepUp: { approver } })
 * ```
 */
export class CallbackApprover implements Approver {
  /** Approvals come from identities acting in a MACI role. */
  readonly kind = 'maci' as const
  readonly #fn: ApprovalCallback
  readonly #identity: ApproverIdentity
  readonly #now: () => number

  constructor(fn: ApprovalCallback, options: CallbackApproverOptions = {}) {
    if (typeof fn !== 'function') throw new TypeError('CallbackApprover needs a function')
    this.#fn = fn
    this.#identity = options.identity ?? { id: 'callback' }
    this.#now = options.now ?? Date.now
  }

  /** Asks the function; rejects when `options.signal` aborts first or the answer is malformed. */
  async requestApproval(req: StepUpRequest, options: ApprovalOptions = {}): Promise<StepUpDecision> {
    const { signal } = options
    if (signal?.aborted) throw abortReason(signal)
    const answer = Promise.resolve().then(() => this.#fn(req, { signal }))
    let result: StepUpDecision | boolean
    if (signal) {
      result = await new Promise<StepUpDecision | boolean>((resolve, reject) => {
        const onAbort = () => reject(abortReason(signal))
        signal.addEventListener('abort', onAbort, { once: true })
        answer.then(
          (v) => {
            signal.removeEventListener('abort', onAbort)
            resolve(v)
          },
          (e: unknown) => {
            signal.removeEventListener('abort', onAbort)
            reject(e)
          },
        )
      })
    } else {
      result = await answer
    }
    if (typeof result === 'boolean') {
      return { approved: result, approver: { ...this.#identity }, decidedAt: this.#now() }
    }
    if (!isDecision(result))
      throw new TypeError('the approval callback returned neither a boolean nor a decision')
    return { ...result, decidedAt: typeof result.decidedAt === 'number' ? result.decidedAt : this.#now() }
  }
}
