import type { SealedEntry } from './entry.js'
import type { Segment } from './parallel-verify.js'
import type { TokenAccessAuditEntry } from './types.js'
import type { StoredRecord, TailState } from './verify.js'

/** `query()` filters after validation: times as ISO strings, the limit as an integer. */
export interface NormalizedQuery {
  agentId?: string
  connection?: string
  outcome?: string
  since?: string
  until?: string
  limit?: number
  afterSeq?: number
}

/** What a storage back end does for {@link TokenAuditLog}. Internal. */
export interface AuditStore {
  readonly readOnly: boolean
  /** Set when the store can no longer be appended to safely (a failed write could not be undone). */
  readonly damaged: string | null
  /** The last entries, checked. */
  tail(): Promise<TailState>
  /** Makes a batch durable in one write (one transaction / one fsync), or throws and stores nothing. */
  write(batch: readonly SealedEntry[]): Promise<void>
  /** Every stored entry, oldest first, in chunks; a consistent snapshot. */
  records(): AsyncIterable<readonly StoredRecord[]>
  /** Like `records()`, as `[rowSeq, hash, body]` rows straight from the driver (faster to verify). */
  rows?(): AsyncIterable<readonly (readonly [number, string, string])[]>
  /**
   * A faster `rows()` for verifying an intact log: `visit(hash, body)` per entry, in order, in
   * one snapshot; false when the store's own keys are not 1..n (or `visit` stopped), so that the
   * caller walks `rows()` instead and classifies what is wrong.
   */
  scan?(visit: (hash: string, body: string) => boolean): Promise<boolean>
  query(q: NormalizedQuery): Promise<TokenAccessAuditEntry[]>
  /**
   * Splits the stored entries into up to `count` parts of at least `minEntries` for parallel
   * verification, or null when the store cannot (or need not) be split.
   */
  segments?(count: number, minEntries: number): Promise<Segment[] | null>
  /** The log's identity for checkpoints, or null while it has none. */
  logId(): Promise<string | null>
  close(): Promise<void>
}

/** Whether an entry passes the filters of a query (for stores that filter in JavaScript). */
export function matches(e: TokenAccessAuditEntry, q: NormalizedQuery): boolean {
  return (
    (q.agentId === undefined || e.agentId === q.agentId) &&
    (q.connection === undefined || e.connection === q.connection) &&
    (q.outcome === undefined || e.outcome === q.outcome) &&
    (q.since === undefined || e.timestamp >= q.since) &&
    (q.until === undefined || e.timestamp <= q.until) &&
    (q.afterSeq === undefined || e.seq > q.afterSeq)
  )
}

/** Keeps the newest `limit` of a stream of entries (oldest first), or all of them. */
export class NewestN {
  readonly #limit: number | undefined
  #items: TokenAccessAuditEntry[] = []

  constructor(limit: number | undefined) {
    this.#limit = limit
  }

  add(e: TokenAccessAuditEntry): void {
    if (this.#limit === 0) return
    this.#items.push(e)
    if (this.#limit !== undefined && this.#items.length >= this.#limit * 2) {
      this.#items = this.#items.slice(-this.#limit)
    }
  }

  result(): TokenAccessAuditEntry[] {
    return this.#limit === undefined ? this.#items : this.#items.slice(-this.#limit || this.#items.length)
  }
}
