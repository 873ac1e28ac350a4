import { randomUUID } from 'node:crypto'
import { bodyOf, type SealedEntry } from '../entry.js'
import { type AuditStore, matches, NewestN, type NormalizedQuery } from '../store.js'
import type { TokenAccessAuditEntry } from '../types.js'
import { checkTail, type StoredRecord, type TailState } from '../verify.js'

const CHUNK = 4096

/** `memory:` — entries in an array, gone when the process ends. */
export class MemoryStore implements AuditStore {
  readonly readOnly = false
  readonly damaged = null
  /** The stored entries; tests reach them through `auditInternals()` to tamper with them. */
  readonly entries: TokenAccessAuditEntry[] = []
  /** Fault injection for tests: called before a batch is stored. */
  beforeWrite: (() => void) | undefined
  readonly #logId = randomUUID()

  async tail(): Promise<TailState> {
    const n = this.entries.length
    return checkTail(this.#record(n - 1), this.#record(n - 2))
  }

  #record(i: number): StoredRecord | undefined {
    const e = this.entries[i]
    return e ? { body: bodyOf(e), hash: e.hash } : undefined
  }

  async write(batch: readonly SealedEntry[]): Promise<void> {
    this.beforeWrite?.()
    for (const s of batch) this.entries.push(s.entry)
  }

  async *records(): AsyncIterable<readonly StoredRecord[]> {
    const snapshot = this.entries.slice()
    for (let i = 0; i < snapshot.length; i += CHUNK) {
      yield snapshot.slice(i, i + CHUNK).map((e) => ({ body: bodyOf(e), hash: e.hash }))
    }
  }

  async query(q: NormalizedQuery): Promise<TokenAccessAuditEntry[]> {
    const out = new NewestN(q.limit)
    for (const e of this.entries) if (matches(e, q)) out.add(e)
    return out.result()
  }

  async logId(): Promise<string | null> {
    return this.#logId
  }

  async close(): Promise<void> {}
}
