import type { KeyObject } from 'node:crypto'
import { randomUUID } from 'node:crypto'
import { AuditIntegrityError, AuditWriteError } from '../errors.js'
import { checkCheckpointSignature, signCheckpoint, toPrivateKey, toPublicKey } from './checkpoint.js'
import {
  AUDIT_OUTCOMES,
  GENESIS_HASH,
  type NormalizedInput,
  normalizeInput,
  type SealedEntry,
  sealEntry,
} from './entry.js'
import type { TokenAuditLogLike } from './log-like.js'
import { defaultVerifyWorkers, verifySegments } from './parallel-verify.js'
import type { repairTornTail } from './repair.js'
import type { AuditStore, NormalizedQuery } from './store.js'
import { JsonlStore } from './stores/jsonl.js'
import { MemoryStore } from './stores/memory.js'
import { SqliteStore, StaleHeadError } from './stores/sqlite.js'
import type {
  AuditCheckpoint,
  AuditEntryInput,
  AuditHead,
  AuditQuery,
  AuditVerifyResult,
  TokenAccessAuditEntry,
} from './types.js'
import { ChainVerifier, type TailState } from './verify.js'

/** Options of {@link TokenAuditLog.open}. */
export interface AuditOpenOptions {
  /**
   * Open an existing log for reading only: the file must exist (nothing is created) and
   * `append()` rejects. For inspection tools such as `acgs-auth0 audit verify`.
   * @defaultValue false
   */
  readOnly?: boolean
  /**
   * The most appends committed together in one transaction / one fsync.
   * @defaultValue 4096
   */
  maxBatch?: number
  /**
   * Worker threads `verify()` may use on a large `sqlite:` or `jsonl:` log; 1 walks in this
   * thread only. Any problem found in parallel is classified by a sequential walk.
   * @defaultValue the available cores, at most 8
   */
  verifyWorkers?: number
  /**
   * The fewest entries per worker for a parallel `verify()` (for `jsonl:`, counted as about
   * 256 bytes each).
   * @defaultValue 100000
   */
  parallelVerifyMin?: number
}

/** Options of {@link TokenAuditLog.verify}. */
export interface AuditVerifyOptions {
  /** A checkpoint the log must still contain and extend. Needs `publicKey`. */
  checkpoint?: AuditCheckpoint | undefined
  /** The Ed25519 public key (KeyObject or PEM) the checkpoint was signed with. */
  publicKey?: KeyObject | string | undefined
}

interface Pending {
  fields: NormalizedInput
  resolve: (entry: TokenAccessAuditEntry) => void
  reject: (err: unknown) => void
}

// Captured at load so that a test's fake timers cannot stall the commit loop.
const defer: (fn: () => void) => void = globalThis.setImmediate.bind(globalThis)

/**
 * Parses an audit URL: `memory:`, `jsonl:PATH` or `sqlite:PATH`, where a `sqlite:` URL may end in
 * `?synchronous=full` (the default: a commit has reached the disk) or `?synchronous=normal`
 * (WAL + NORMAL: survives a crash of the process, but the last commits may be lost on power
 * loss). Any other text after `?` is part of the path.
 *
 * @throws TypeError for any other form, or a `?synchronous=` value other than these
 * @example
 * ```ts
 * parseAuditUrl('sqlite:./audit.db?synchronous=normal')
 * // { kind: 'sqlite', path: './audit.db', synchronous: 'normal' }
 * ```
 */
export function parseAuditUrl(url: string): {
  kind: 'memory' | 'jsonl' | 'sqlite'
  path: string
  /** For `sqlite:` only. @defaultValue 'full' */
  synchronous?: 'full' | 'normal'
} {
  if (typeof url !== 'string') throw new TypeError('audit URL must be a string')
  if (url === 'memory:') return { kind: 'memory', path: '' }
  const m = /^(jsonl|sqlite):(.+)$/.exec(url)
  if (!m?.[1] || !m[2]) throw new TypeError('audit URL must be memory:, jsonl:PATH or sqlite:PATH')
  const knob = /^(.*)\?synchronous=([^?]*)$/.exec(m[2])
  if (!knob) return m[1] === 'jsonl' ? { kind: 'jsonl', path: m[2] } : { kind: 'sqlite', path: m[2] }
  if (m[1] !== 'sqlite') throw new TypeError('?synchronous= applies to sqlite: URLs only')
  if (knob[2] !== 'full' && knob[2] !== 'normal') throw new TypeError('?synchronous= must be full or normal')
  if (!knob[1]) throw new TypeError('audit URL must be memory:, jsonl:PATH or sqlite:PATH')
  return { kind: 'sqlite', path: knob[1], synchronous: knob[2] }
}

function toIso(value: string | Date | undefined, name: string): string | undefined {
  if (value === undefined) return undefined
  const d = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(d.getTime())) throw new TypeError(`${name} must be an ISO 8601 date or a Date`)
  return d.toISOString()
}

function normalizeQuery(q: AuditQuery): NormalizedQuery {
  const out: NormalizedQuery = {}
  if (q.agentId !== undefined) out.agentId = String(q.agentId)
  if (q.connection !== undefined) out.connection = String(q.connection)
  if (q.outcome !== undefined) {
    if (!AUDIT_OUTCOMES.has(q.outcome)) {
      throw new TypeError(`outcome must be one of ${[...AUDIT_OUTCOMES].join(', ')}`)
    }
    out.outcome = q.outcome
  }
  const since = toIso(q.since, 'since')
  if (since !== undefined) out.since = since
  const until = toIso(q.until, 'until')
  if (until !== undefined) out.until = until
  if (q.limit !== undefined) {
    if (!Number.isSafeInteger(q.limit) || q.limit < 0)
      throw new TypeError('limit must be a non-negative integer')
    out.limit = q.limit
  }
  if (q.afterSeq !== undefined) {
    if (!Number.isSafeInteger(q.afterSeq) || q.afterSeq < 0) {
      throw new TypeError('afterSeq must be a non-negative integer')
    }
    out.afterSeq = q.afterSeq
  }
  return out
}

/**
 * The tamper-evident audit log: every entry is chained to the one before it by
 * `hash = sha256(prevHash ‖ JCS(entry without hash))` (RFC 8785 JCS), starting from 64 zeros.
 *
 * Appends are serialized into one order and committed in groups: appends that arrive while a
 * commit is in progress go into the next transaction (SQLite) or the next write + fsync (JSONL)
 * together, and none resolves before its group is durable. When a commit fails, every append of
 * its group rejects with {@link AuditWriteError} and the head stays where it was. There is no way
 * to update or delete an entry.
 *
 * Stores: `memory:` (an array), `jsonl:PATH` (one JCS entry per line; single writer),
 * `sqlite:PATH` (WAL, `synchronous = FULL`, indexed filter columns; `?synchronous=normal` trades
 * the last commits before a power loss for speed, see {@link parseAuditUrl}). The log's identity for
 * checkpoints (`logId`) is a UUID stored in the SQLite database, the `id` of the first entry of a
 * JSONL file, or a UUID per `memory:` log.
 *
 * A damaged log still opens so that it can be inspected and verified; `append()` then rejects
 * with {@link AuditIntegrityError} while the stored tail does not verify (for example a torn last
 * JSONL line after a crash). A torn line can only ever be an append that never resolved: lines
 * are acknowledged after they are completely written and fsync'ed; {@link repairTornTail}
 * (`acgs-auth0 audit repair`) moves it aside.
 *
 * @example
 * ```ts
 * const audit = await TokenAuditLog.open('sqlite:./acgs-audit.db')
 * const entry = await audit.append({ outcome: 'granted', agentId: 'planner', role: 'EXECUTIVE',
 *   connection: 'github', requestedScopes: ['repo:read'], grantedScopes: ['repo:read'],
 *   constitutionalHash, policyDigest })
 * const report = await audit.verify()   // { ok: true, entries: 1, head: { seq: 1, hash } }
 * await audit.close()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc8785 (JCS)
 * @see https://www.rfc-editor.org/rfc/rfc6962#section-3.5 (signed tree heads, which checkpoints resemble)
 */
export class TokenAuditLog implements TokenAuditLogLike {
  /** The URL the log was opened with. */
  readonly url: string
  readonly #store: AuditStore
  readonly #maxBatch: number
  readonly #workers: number
  readonly #parallelMin: number
  #head: AuditHead
  #tailProblem: TailState['problem']
  #queue: Pending[] = []
  #scheduled = false
  #flushing = false
  #closed = false
  #closing: Promise<void> | undefined
  #idle: (() => void) | undefined

  private constructor(url: string, store: AuditStore, tail: TailState, options: AuditOpenOptions) {
    this.url = url
    this.#store = store
    this.#head = tail.head
    this.#tailProblem = tail.problem
    this.#maxBatch = options.maxBatch ?? 4096
    this.#workers = options.verifyWorkers ?? defaultVerifyWorkers()
    this.#parallelMin = options.parallelVerifyMin ?? 100_000
  }

  /**
   * Opens (or, unless `readOnly`, creates) an audit log.
   *
   * @param url - `memory:`, `jsonl:PATH` or `sqlite:PATH`
   * @throws TypeError for a malformed URL; {@link AuditWriteError} when the store cannot be opened
   */
  static async open(url: string, options: AuditOpenOptions = {}): Promise<TokenAuditLog> {
    const { kind, path, synchronous } = parseAuditUrl(url)
    const readOnly = options.readOnly ?? false
    const maxBatch = options.maxBatch ?? 4096
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1)
      throw new TypeError('maxBatch must be a positive integer')
    const store: AuditStore =
      kind === 'memory'
        ? new MemoryStore()
        : kind === 'jsonl'
          ? await JsonlStore.open(path, readOnly)
          : SqliteStore.open(path, readOnly, synchronous)
    try {
      return new TokenAuditLog(url, store, await store.tail(), options)
    } catch (err) {
      await store.close()
      throw err
    }
  }

  /**
   * A new, empty `memory:` log, created synchronously (for a default inside a constructor).
   *
   * @example
   * ```ts
   * const audit = options.audit ?? TokenAuditLog.memory()
   * ```
   */
  static memory(options: Pick<AuditOpenOptions, 'maxBatch'> = {}): TokenAuditLog {
    if (options.maxBatch !== undefined && (!Number.isSafeInteger(options.maxBatch) || options.maxBatch < 1)) {
      throw new TypeError('maxBatch must be a positive integer')
    }
    return new TokenAuditLog(
      'memory:',
      new MemoryStore(),
      { head: { seq: 0, hash: GENESIS_HASH }, problem: null },
      options,
    )
  }

  /**
   * Appends an entry. Resolves with the sealed entry once it is durable.
   *
   * @throws TypeError when the input has an unknown field (such as a token) or a bad value;
   *   {@link AuditWriteError} when it could not be made durable (or the log is closed);
   *   {@link AuditIntegrityError} while the stored tail does not verify
   */
  append(input: AuditEntryInput): Promise<TokenAccessAuditEntry> {
    if (this.#closed) return Promise.reject(new AuditWriteError(`audit log ${this.url} is closed`))
    if (this.#store.readOnly)
      return Promise.reject(new AuditWriteError(`audit log ${this.url} is open read-only`))
    let fields: NormalizedInput
    try {
      fields = normalizeInput(input)
    } catch (err) {
      return Promise.reject(err)
    }
    const refusal = this.#refusal()
    if (refusal) return Promise.reject(refusal)
    return new Promise((resolve, reject) => {
      this.#queue.push({ fields, resolve, reject })
      this.#schedule()
    })
  }

  #refusal(): AuditIntegrityError | undefined {
    if (this.#store.damaged) return new AuditIntegrityError(`audit log ${this.url}: ${this.#store.damaged}`)
    const p = this.#tailProblem
    if (p) {
      return new AuditIntegrityError(
        `audit log ${this.url} does not verify at seq ${p.seq} (${p.problem}: ${p.detail}); refusing to append`,
        p.seq,
      )
    }
    return undefined
  }

  #schedule(): void {
    if (this.#flushing || this.#scheduled) return
    this.#scheduled = true
    defer(() => void this.#flush())
  }

  async #flush(): Promise<void> {
    this.#scheduled = false
    this.#flushing = true
    try {
      const batch = this.#queue.splice(0, this.#maxBatch)
      if (batch.length > 0) await this.#commit(batch)
    } finally {
      this.#flushing = false
    }
    if (this.#queue.length > 0) this.#schedule()
    else this.#idle?.()
  }

  #seal(batch: readonly Pending[]): SealedEntry[] {
    const timestamp = new Date().toISOString()
    let { seq, hash } = this.#head
    return batch.map((p) => {
      seq += 1
      const sealed = sealEntry(p.fields, seq, randomUUID(), timestamp, hash)
      hash = sealed.entry.hash
      return sealed
    })
  }

  async #commit(batch: readonly Pending[]): Promise<void> {
    const refusal = this.#refusal()
    if (refusal) {
      for (const p of batch) p.reject(refusal)
      return
    }
    let sealed = this.#seal(batch)
    try {
      try {
        await this.#store.write(sealed)
      } catch (err) {
        if (!(err instanceof StaleHeadError)) throw err
        // Another process appended: continue its chain if its tail verifies.
        const tail = await this.#store.tail()
        this.#head = tail.head
        this.#tailProblem = tail.problem
        const again = this.#refusal()
        if (again) throw again
        sealed = this.#seal(batch)
        await this.#store.write(sealed)
      }
    } catch (err) {
      const failure =
        err instanceof AuditWriteError || err instanceof AuditIntegrityError
          ? err
          : new AuditWriteError(`cannot write audit log ${this.url}`, { cause: err })
      for (const p of batch) p.reject(failure)
      return
    }
    const last = sealed[sealed.length - 1]
    if (last) this.#head = { seq: last.entry.seq, hash: last.entry.hash }
    for (let i = 0; i < batch.length; i++) batch[i]?.resolve((sealed[i] as SealedEntry).entry)
  }

  /**
   * Entries matching every given filter, oldest first. `limit` keeps the newest N.
   *
   * @throws TypeError for an unknown outcome, an unparsable date or a bad limit
   */
  async query(q: AuditQuery = {}): Promise<TokenAccessAuditEntry[]> {
    this.#assertOpen()
    return this.#store.query(normalizeQuery(q))
  }

  /** The last durable entry's `seq` and `hash` (`{ seq: 0, hash: '0'.repeat(64) }` when empty). */
  async head(): Promise<AuditHead> {
    this.#assertOpen()
    if (this.#store.readOnly) return (await this.#store.tail()).head
    return { ...this.#head }
  }

  /**
   * Walks the whole chain and says whether it is intact; with a checkpoint, also proves the log
   * still contains entry `checkpoint.seq` with `checkpoint.hash` and extends it.
   *
   * Problems: `altered` (an entry no longer matches its hash), `removed` (a seq is missing),
   * `inserted` (an extra entry, or a forged one whose successor does not link to it),
   * `reordered`, `broken_tail` (the last entry is incomplete or unreadable), `bad_signature`,
   * `checkpoint_mismatch` (another log, or rewritten history), `truncated` (entries after the
   * checkpoint's were cut off). `firstBadSeq` names the first entry that cannot be trusted and
   * `head` the last entry of the verified prefix.
   *
   * @example
   * ```ts
   * const r = await audit.verify({ checkpoint, publicKey: readFileSync('audit-public.pem', 'utf8') })
   * if (!r.ok) console.error(r.problem, r.firstBadSeq, r.detail)
   * ```
   */
  async verify(options: AuditVerifyOptions = {}): Promise<AuditVerifyResult> {
    this.#assertOpen()
    const { checkpoint } = options
    if (checkpoint !== undefined) {
      if (options.publicKey === undefined) throw new TypeError('verifying a checkpoint needs its publicKey')
      const key = toPublicKey(options.publicKey)
      if (!checkCheckpointSignature(checkpoint, key)) {
        const r = await this.#walk(undefined)
        return {
          ...r,
          ok: false,
          problem: 'bad_signature',
          detail: 'the checkpoint signature does not verify',
        }
      }
    }
    const result = await this.#walk(checkpoint?.seq)
    if (!checkpoint || !result.ok) return stripWatched(result)
    const logId = await this.#store.logId()
    if (logId !== checkpoint.logId) {
      return {
        ...stripWatched(result),
        ok: false,
        problem: 'checkpoint_mismatch',
        firstBadSeq: 1,
        detail: `the checkpoint is for log ${checkpoint.logId}, this log is ${logId ?? '(empty)'}`,
      }
    }
    if (result.head.seq < checkpoint.seq) {
      return {
        ...stripWatched(result),
        ok: false,
        problem: 'truncated',
        firstBadSeq: result.head.seq + 1,
        detail: `the checkpoint covers entry ${checkpoint.seq} but the log ends at ${result.head.seq}`,
      }
    }
    if (result.watchedHash !== checkpoint.hash) {
      return {
        ...stripWatched(result),
        ok: false,
        problem: 'checkpoint_mismatch',
        firstBadSeq: checkpoint.seq,
        detail: `entry ${checkpoint.seq} is not the checkpointed one: history at or before it was rewritten`,
      }
    }
    return stripWatched(result)
  }

  async #walk(
    watchSeq: number | undefined,
  ): Promise<AuditVerifyResult & { watchedHash?: string | undefined }> {
    if (this.#workers > 1 && this.#store.segments) {
      const segments = await this.#store.segments(this.#workers, this.#parallelMin)
      const fast = segments ? await verifySegments(segments, watchSeq) : null
      if (fast) return { ok: true, ...fast }
    }
    if (this.#store.scan) {
      const fast = new ChainVerifier(watchSeq)
      // Only proves a log intact; anything in doubt is walked again below and classified there.
      // Row keys are implied: a SQLite scan only succeeds when they are exactly 1..n in order.
      const scanned = await this.#store.scan((hash, body) => fast.pushRow(undefined, hash, body))
      if (scanned) {
        const { found, ...result } = fast.finish()
        if (!found && result.ok) return { ...result, watchedHash: fast.watchedHash }
      }
    }
    const v = new ChainVerifier(watchSeq)
    if (this.#store.rows) {
      for await (const chunk of this.#store.rows()) {
        for (const row of chunk) v.pushRow(row[0], row[1], row[2])
      }
    } else {
      for await (const chunk of this.#store.records()) {
        for (const rec of chunk) v.push(rec)
      }
    }
    const { found: _found, ...result } = v.finish()
    return { ...result, watchedHash: v.watchedHash }
  }

  /**
   * Signs the current head: `{ seq, hash, timestamp, logId }` with an Ed25519 key (the key is
   * never stored). Keep checkpoints apart from the log; `verify({ checkpoint, publicKey })` then
   * detects truncation and rewriting that the chain alone cannot.
   *
   * @param privateKey - Ed25519 private key, as a `KeyObject` or PEM text
   * @throws TypeError for another key type or an empty log; {@link AuditIntegrityError} when the
   *   log does not verify (a damaged log is never signed)
   * @example
   * ```ts
   * const checkpoint = await audit.checkpoint(readFileSync('audit-private.pem', 'utf8'))
   * ```
   */
  async checkpoint(privateKey: KeyObject | string): Promise<AuditCheckpoint> {
    this.#assertOpen()
    const key = toPrivateKey(privateKey)
    const result = await this.#walk(undefined)
    if (!result.ok) {
      throw new AuditIntegrityError(
        `audit log ${this.url} does not verify (${result.problem ?? 'unknown'} at seq ${result.firstBadSeq ?? '?'}); refusing to sign a checkpoint`,
        result.firstBadSeq,
      )
    }
    if (result.head.seq === 0)
      throw new TypeError(`cannot checkpoint audit log ${this.url}: it has no entries`)
    const logId = await this.#store.logId()
    if (logId === null) throw new TypeError(`cannot checkpoint audit log ${this.url}: it has no identity yet`)
    return signCheckpoint(
      { seq: result.head.seq, hash: result.head.hash, timestamp: new Date().toISOString(), logId },
      key,
    )
  }

  /** Waits for pending appends, then closes the store. Idempotent; later appends reject. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    this.#closing = (async () => {
      if (this.#flushing || this.#scheduled || this.#queue.length > 0) {
        await new Promise<void>((resolve) => {
          this.#idle = resolve
        })
      }
      await this.#store.close()
    })()
    return this.#closing
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuditWriteError(`audit log ${this.url} is closed`)
  }

  /** @internal */
  get [Symbol.for('acgs-auth0.audit.store')](): AuditStore {
    return this.#store
  }
}

function stripWatched(r: AuditVerifyResult & { watchedHash?: string | undefined }): AuditVerifyResult {
  const { watchedHash: _w, ...rest } = r
  return rest
}

/** @internal Test access to a log's store (to tamper with it or inject faults). */
export function auditInternals(log: TokenAuditLog): AuditStore {
  return (log as unknown as Record<symbol, AuditStore>)[Symbol.for('acgs-auth0.audit.store')] as AuditStore
}
