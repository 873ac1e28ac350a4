/** A limit: at most `max` events per `perSeconds`. */
export interface RateLimit {
  max: number
  perSeconds: number
}

/** The answer of {@link SlidingWindowRateLimiter.take}. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number }

interface Window {
  /** Allowed event times, oldest first, from `head` on. */
  times: number[]
  head: number
  windowMs: number
}

/**
 * A sliding-window-log rate limiter keyed by string: an event is allowed when fewer than `max`
 * events were allowed in the last `perSeconds`. Exact (no fixed-window burst at the edges), and
 * memory per key is bounded by `max`. Keys whose window has emptied are dropped.
 */
export class SlidingWindowRateLimiter {
  readonly #windows = new Map<string, Window>()
  readonly #now: () => number
  #sweeps = 0

  constructor(now: () => number = Date.now) {
    this.#now = now
  }

  /** Records an event for `key` if `limit` allows it; otherwise says how long to wait. */
  take(key: string, limit: RateLimit): RateDecision {
    const now = this.#now()
    const windowMs = limit.perSeconds * 1000
    let w = this.#windows.get(key)
    if (!w) {
      w = { times: [], head: 0, windowMs }
      this.#windows.set(key, w)
    }
    w.windowMs = windowMs
    const { times } = w
    while (w.head < times.length && (times[w.head] ?? 0) <= now - windowMs) w.head++
    if (w.head > 64 && w.head * 2 > times.length) {
      times.splice(0, w.head)
      w.head = 0
    }
    if (times.length - w.head >= limit.max) {
      const oldest = times[w.head] ?? now
      return { allowed: false, retryAfterMs: Math.max(1, oldest + windowMs - now) }
    }
    times.push(now)
    if (++this.#sweeps >= 1024) this.#sweep(now)
    return { allowed: true }
  }

  /** Number of keys currently tracked. */
  get size(): number {
    return this.#windows.size
  }

  #sweep(now: number): void {
    this.#sweeps = 0
    for (const [key, w] of this.#windows) {
      const newest = w.times[w.times.length - 1] ?? 0
      if (newest <= now - w.windowMs) this.#windows.delete(key)
    }
  }
}

/** The limiter key of one agent acting in one role on one connection. */
export function rateLimitKey(agentId: string, connection: string, role: string): string {
  return JSON.stringify([agentId, connection, role])
}
