import { EventEmitter } from 'node:events'
import type { ApprovalOptions, Approver, ApproverIdentity, StepUpDecision, StepUpRequest } from './types.js'

/** A step-up waiting for a person. */
export interface PendingStepUp {
  id: string
  request: StepUpRequest
  /** Epoch milliseconds. */
  createdAt: number
}

/** Payload of the `decided` event. */
export interface PendingStepUpDecided {
  id: string
  request: StepUpRequest
  decision: StepUpDecision
}

/** Payload of the `cancelled` event: the vault stopped waiting before anyone decided. */
export interface PendingStepUpCancelled {
  id: string
  request: StepUpRequest
}

/** Options of {@link PendingApprovals}. */
export interface PendingApprovalsOptions {
  /** @defaultValue `Date.now` */
  now?: (() => number) | undefined
}

/** The identity recorded on a decision the queue makes itself because the request expired. */
export const EXPIRED_BY = { id: 'pending-approvals:expired' } as const satisfies ApproverIdentity

interface Waiter {
  readonly entry: PendingStepUp
  readonly resolve: (decision: StepUpDecision) => void
  readonly reject: (reason: unknown) => void
  readonly cleanup: () => void
}

function checkIdentity(approver: ApproverIdentity): ApproverIdentity {
  if (typeof approver !== 'object' || approver === null || typeof approver.id !== 'string' || !approver.id) {
    throw new TypeError('approver must be { id: string; role?: string } with a non-empty id')
  }
  if (approver.role !== undefined && typeof approver.role !== 'string') {
    throw new TypeError('approver.role must be a string')
  }
  return approver.role === undefined ? { id: approver.id } : { id: approver.id, role: approver.role }
}

/**
 * An in-process queue of step-ups that a person answers, for example from a console or an
 * admin page. The vault's request waits until `approve()` or `deny()` is called, the request
 * expires, or the vault stops waiting; in every case it leaves the queue.
 *
 * Events (node:events): `requested` (a {@link PendingStepUp}), `decided`
 * ({@link PendingStepUpDecided}, also when the request expired: `decision.expired === true`),
 * `cancelled` ({@link PendingStepUpCancelled}).
 *
 * The vault applies the MACI rules to the answer: an approval by the requesting agent itself,
 * or by a role outside `step_up.approvers`, is refused.
 *
 * @example
 * ```ts
 * const approvals = new PendingApprovals()
 * approvals.on('requested', (p) => console.log(`${p.id}: ${p.request.bindingMessage}`))
 * const vault = new ConstitutionalTokenVault({ policy, stepUp: { approver: approvals, mode: 'interrupt' } })
 * // later, at the console:
 * approvals.approve(id, { id: 'alice', role: 'JUDICIAL' })
 * ```
 */
export class PendingApprovals implements Approver {
  /** Approvals come from identities acting in a MACI role. */
  readonly kind = 'maci' as const
  readonly #events = new EventEmitter()
  readonly #waiting = new Map<string, Waiter>()
  readonly #now: () => number

  constructor(options: PendingApprovalsOptions = {}) {
    this.#now = options.now ?? Date.now
  }

  /** The step-ups waiting for a decision, oldest first. */
  list(): PendingStepUp[] {
    return [...this.#waiting.values()].map((w) => ({ ...w.entry }))
  }

  /** Approves the waiting step-up `id` as `approver`. Throws when no such step-up is waiting. */
  approve(id: string, approver: ApproverIdentity): void {
    this.#decide(id, { approved: true, approver: checkIdentity(approver), decidedAt: this.#now() })
  }

  /** Denies the waiting step-up `id` as `approver`. Throws when no such step-up is waiting. */
  deny(id: string, approver: ApproverIdentity, reason?: string): void {
    const decision: StepUpDecision = {
      approved: false,
      approver: checkIdentity(approver),
      decidedAt: this.#now(),
    }
    if (reason !== undefined) decision.reason = String(reason)
    this.#decide(id, decision)
  }

  /** Listens for `requested`, `decided` or `cancelled` (see the class description). */
  on(event: 'requested', listener: (pending: PendingStepUp) => void): this
  on(event: 'decided', listener: (decided: PendingStepUpDecided) => void): this
  on(event: 'cancelled', listener: (cancelled: PendingStepUpCancelled) => void): this
  on(event: 'requested' | 'decided' | 'cancelled', listener: (payload: never) => void): this {
    this.#events.on(event, listener as (...args: unknown[]) => void)
    return this
  }

  /** Like {@link PendingApprovals.on}, for one event. */
  once(event: 'requested', listener: (pending: PendingStepUp) => void): this
  once(event: 'decided', listener: (decided: PendingStepUpDecided) => void): this
  once(event: 'cancelled', listener: (cancelled: PendingStepUpCancelled) => void): this
  once(event: 'requested' | 'decided' | 'cancelled', listener: (payload: never) => void): this {
    this.#events.once(event, listener as (...args: unknown[]) => void)
    return this
  }

  /** Removes a listener added with `on` or `once`. */
  off(event: 'requested' | 'decided' | 'cancelled', listener: (payload: never) => void): this {
    this.#events.off(event, listener as (...args: unknown[]) => void)
    return this
  }

  /** Queues `req` and resolves with the decision; rejects when `options.signal` aborts first. */
  requestApproval(req: StepUpRequest, options: ApprovalOptions = {}): Promise<StepUpDecision> {
    const { signal } = options
    if (signal?.aborted) {
      return Promise.reject(signal.reason ?? new DOMException('This operation was aborted', 'AbortError'))
    }
    if (this.#waiting.has(req.id))
      return Promise.reject(new TypeError(`step-up ${req.id} is already waiting`))
    return new Promise<StepUpDecision>((resolve, reject) => {
      const entry: PendingStepUp = { id: req.id, request: req, createdAt: this.#now() }
      let timer: ReturnType<typeof setTimeout> | undefined
      const onAbort = () => {
        if (this.#waiting.get(req.id)?.entry !== entry) return
        this.#waiting.get(req.id)?.cleanup()
        this.#waiting.delete(req.id)
        this.#events.emit('cancelled', { id: req.id, request: req } satisfies PendingStepUpCancelled)
        reject(signal?.reason ?? new DOMException('This operation was aborted', 'AbortError'))
      }
      const cleanup = () => {
        if (timer) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      this.#waiting.set(req.id, { entry, resolve, reject, cleanup })
      signal?.addEventListener('abort', onAbort, { once: true })
      const delay = req.expiresAt - this.#now()
      timer = setTimeout(
        () =>
          this.#decide(req.id, {
            approved: false,
            expired: true,
            approver: { ...EXPIRED_BY },
            decidedAt: this.#now(),
          }),
        Math.max(0, delay),
      )
      timer.unref?.()
      this.#events.emit('requested', { ...entry } satisfies PendingStepUp)
    })
  }

  #decide(id: string, decision: StepUpDecision): void {
    const waiter = this.#waiting.get(id)
    if (!waiter) throw new Error(`no step-up ${JSON.stringify(String(id))} is waiting for a decision`)
    waiter.cleanup()
    this.#waiting.delete(id)
    this.#events.emit('decided', {
      id,
      request: waiter.entry.request,
      decision,
    } satisfies PendingStepUpDecided)
    waiter.resolve(decision)
  }
}
