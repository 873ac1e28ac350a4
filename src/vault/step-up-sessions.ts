import type { StepUpDecision, StepUpRequest } from '../step-up/types.js'

/** Where one step-up stands. */
export type StepUpState = 'pending' | 'approved' | 'denied' | 'expired' | 'used' | 'failed'

/** One step-up the vault started: the request, what it is bound to, and how it ended. */
export interface StepUpSession {
  readonly request: StepUpRequest
  /** Agent, role, connection, requested scope set and subject the approval is valid for (see {@link stepUpBinding}). */
  readonly binding: string
  readonly controller: AbortController
  state: StepUpState
  decision?: StepUpDecision
  /** Why it was refused: `denied`, `expired`, `self_approval`, `approver_role`, `approver_error`. */
  denyReason?: string
  /** The error a `failed` step-up ends with. */
  error?: Error
  /** The audit entry of the decision; a step-up counts only once it is durable. */
  recorded?: Promise<void>
  /** Resolves once the state has left `pending` and the decision's entry is written (or failed). */
  readonly settled: Promise<void>
  readonly settle: () => void
  /** An approval may be used until then (epoch ms). */
  usableUntil: number
  /** The session is forgotten after then (epoch ms). */
  readonly forgetAt: number
  timer?: ReturnType<typeof setTimeout>
}

/** What an approval is bound to: exactly these, once. */
export function stepUpBinding(parts: {
  agentId: string
  role: string
  connection: string
  scopes: readonly string[]
  subjectHash: string
  loginHint?: string | undefined
  userId?: string | undefined
}): string {
  return JSON.stringify([
    parts.agentId,
    parts.role,
    parts.connection,
    [...new Set(parts.scopes)].sort(),
    parts.subjectHash,
    parts.loginHint ?? null,
    parts.userId ?? null,
  ])
}

/**
 * The step-ups the vault remembers, so an interrupted caller can resume with `stepUpId`, and a
 * used, denied or expired one is answered as such rather than as unknown. Bounded in time
 * (`forgetAt`) and in count (oldest first).
 */
export class StepUpSessions {
  readonly #sessions = new Map<string, StepUpSession>()
  readonly #max: number
  readonly #now: () => number

  constructor(max: number, now: () => number) {
    this.#max = max
    this.#now = now
  }

  create(request: StepUpRequest, binding: string, forgetAt: number): StepUpSession {
    this.#prune()
    let settle!: () => void
    const settled = new Promise<void>((resolve) => {
      settle = resolve
    })
    const session: StepUpSession = {
      request,
      binding,
      controller: new AbortController(),
      state: 'pending',
      settled,
      settle,
      usableUntil: 0,
      forgetAt,
    }
    this.#sessions.set(request.id, session)
    while (this.#sessions.size > this.#max) {
      const oldest = this.#sessions.entries().next()
      if (oldest.done) break
      this.#drop(oldest.value[0], oldest.value[1])
    }
    return session
  }

  get(id: string): StepUpSession | undefined {
    const s = this.#sessions.get(id)
    if (s && this.#now() >= s.forgetAt) {
      this.#drop(id, s)
      return undefined
    }
    return s
  }

  get size(): number {
    return this.#sessions.size
  }

  #prune(): void {
    const now = this.#now()
    for (const [id, s] of this.#sessions) {
      if (now < s.forgetAt) break
      this.#drop(id, s)
    }
  }

  #drop(id: string, s: StepUpSession): void {
    this.#sessions.delete(id)
    if (s.timer) clearTimeout(s.timer)
    if (s.state === 'pending') {
      s.state = 'expired'
      s.denyReason = 'expired'
      s.controller.abort(new DOMException('step-up forgotten', 'AbortError'))
      s.settle()
    }
  }
}
