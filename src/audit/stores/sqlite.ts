import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import Database from 'better-sqlite3'
import { AuditWriteError } from '../../errors.js'
import type { SealedEntry } from '../entry.js'
import type { Segment } from '../parallel-verify.js'
import type { AuditStore, NormalizedQuery } from '../store.js'
import type { TokenAccessAuditEntry } from '../types.js'
import { checkTail, type StoredRecord, type TailState } from '../verify.js'

const FORMAT = 'acgs-auth0-audit/1'
// Small enough that a chunk's strings die young instead of being promoted by the GC.
const CHUNK = 512

/** How a commit reaches the disk: `full` (the default) or `normal` (see {@link SqliteStore}). */
export type SqliteSynchronous = 'full' | 'normal'

// The filter columns are generated from the entry text by SQLite itself, so an index can never
// disagree with what was hashed.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS audit_entries (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  entry TEXT NOT NULL,
  ts TEXT GENERATED ALWAYS AS (json_extract(entry, '$.timestamp')) VIRTUAL,
  agent_id TEXT GENERATED ALWAYS AS (json_extract(entry, '$.agentId')) VIRTUAL,
  connection TEXT GENERATED ALWAYS AS (json_extract(entry, '$.connection')) VIRTUAL,
  outcome TEXT GENERATED ALWAYS AS (json_extract(entry, '$.outcome')) VIRTUAL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_entries_agent ON audit_entries (agent_id, seq);
CREATE INDEX IF NOT EXISTS audit_entries_connection ON audit_entries (connection, seq);
CREATE INDEX IF NOT EXISTS audit_entries_outcome ON audit_entries (outcome, seq);
CREATE INDEX IF NOT EXISTS audit_entries_ts ON audit_entries (ts, seq);
`

/**
 * `sqlite:PATH` — better-sqlite3 in WAL mode with `synchronous = FULL`, so a commit has reached
 * the disk when it returns. `sqlite:PATH?synchronous=normal` opts into WAL + NORMAL: a commit
 * survives a crash or SIGKILL of the process, but the last commits may be lost on power loss or
 * an OS crash. One row per entry holds the JCS text that was hashed; a batch is one
 * `BEGIN IMMEDIATE` transaction. Inside it the stored tail is compared with the log's head, so
 * a second writing process is detected instead of forking the chain.
 */
export class SqliteStore implements AuditStore {
  readonly readOnly: boolean
  readonly damaged = null
  readonly path: string
  readonly #db: Database.Database
  readonly #logId: string | null
  #insert: Database.Statement | undefined
  #lastRow: Database.Statement
  #headRow: Database.Statement

  private constructor(path: string, db: Database.Database, readOnly: boolean) {
    this.path = path
    this.#db = db
    this.readOnly = readOnly
    const format = this.#meta('format')
    if (format !== FORMAT) {
      throw new AuditWriteError(`sqlite:${path} is not an audit log of this format (${format ?? 'none'})`)
    }
    this.#logId = this.#meta('logId')
    this.#headRow = db.prepare('SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1').raw(true)
    this.#lastRow = db
      .prepare('SELECT seq, hash, entry FROM audit_entries ORDER BY seq DESC LIMIT 2')
      .raw(true)
    if (!readOnly) this.#insert = db.prepare('INSERT INTO audit_entries (seq, hash, entry) VALUES (?, ?, ?)')
  }

  #meta(key: string): string | null {
    try {
      const row = this.#db.prepare('SELECT value FROM audit_meta WHERE key = ?').pluck(true).get(key)
      return typeof row === 'string' ? row : null
    } catch {
      return null
    }
  }

  static open(path: string, readOnly: boolean, synchronous: SqliteSynchronous = 'full'): SqliteStore {
    if (readOnly && !existsSync(path)) throw new AuditWriteError(`audit log sqlite:${path} does not exist`)
    let db: Database.Database | undefined
    try {
      db = new Database(path, readOnly ? { readonly: true, fileMustExist: true } : {})
      db.pragma('busy_timeout = 5000')
      if (!readOnly) {
        // Only takes effect on a new, empty file: larger pages make a 1 KiB row cheaper to write
        // and to read back (verify walks every row). An existing log keeps its page size.
        db.pragma('page_size = 16384')
        db.pragma('journal_mode = WAL')
        db.pragma(synchronous === 'normal' ? 'synchronous = NORMAL' : 'synchronous = FULL')
        db.exec(SCHEMA)
        const insertMeta = db.prepare('INSERT OR IGNORE INTO audit_meta (key, value) VALUES (?, ?)')
        db.transaction(() => {
          insertMeta.run('format', FORMAT)
          insertMeta.run('logId', randomUUID())
        }).immediate()
      }
      return new SqliteStore(path, db, readOnly)
    } catch (err) {
      db?.close()
      if (err instanceof AuditWriteError) throw err
      throw new AuditWriteError(`cannot open audit log sqlite:${path}`, { cause: err })
    }
  }

  #tailRows(): StoredRecord[] {
    const rows = this.#lastRow.all() as [number, string, string][]
    return rows.map(([seq, hash, entry]) => ({ rowSeq: seq, hash, body: entry }))
  }

  async tail(): Promise<TailState> {
    const [last, before] = this.#tailRows()
    return checkTail(last, before)
  }

  async write(batch: readonly SealedEntry[]): Promise<void> {
    const insert = this.#insert
    if (!insert) throw new AuditWriteError(`audit log sqlite:${this.path} is open read-only`)
    const first = batch[0]
    if (!first) return
    this.#db
      .transaction(() => {
        const tail = this.#headRow.get() as [number, string] | undefined
        const tailSeq = tail?.[0] ?? 0
        const tailHash = tail?.[1] ?? '0'.repeat(64)
        if (tailSeq !== first.entry.seq - 1 || tailHash !== first.entry.prevHash) {
          throw new StaleHeadError(`sqlite:${this.path} was appended to by another writer`)
        }
        // One prepared single-row INSERT per entry: measured cheaper in CPU than multi-row
        // VALUES statements, which SQLite runs through a co-routine.
        for (const s of batch) insert.run(s.entry.seq, s.entry.hash, s.body)
      })
      .immediate()
  }

  async *rows(): AsyncIterable<readonly (readonly [number, string, string])[]> {
    // A connection of its own: its read transaction is a stable snapshot while appends go on.
    const reader = new Database(this.path, { readonly: true, fileMustExist: true })
    try {
      const it = reader.prepare('SELECT seq, hash, entry FROM audit_entries ORDER BY seq').raw(true).iterate()
      let chunk: [number, string, string][] = []
      for (const row of it as Iterable<[number, string, string]>) {
        chunk.push(row)
        if (chunk.length === CHUNK) {
          yield chunk
          chunk = []
        }
      }
      if (chunk.length > 0) yield chunk
    } finally {
      reader.close()
    }
  }

  /**
   * The verifier's fast path: calls `visit(hash, body)` for every entry in order, in one read
   * snapshot, with one text column per row (the stored hash is always 64 characters in a log
   * that verifies; any other length makes the walk fail and the caller walk with keys). Returns
   * false when the row keys are not exactly 1..n, or when `visit` returned false.
   */
  async scan(visit: (hash: string, body: string) => boolean): Promise<boolean> {
    const reader = new Database(this.path, { readonly: true, fileMustExist: true })
    try {
      reader.exec('BEGIN')
      const [min, max, count] = reader
        .prepare('SELECT min(seq), max(seq), count(*) FROM audit_entries')
        .raw(true)
        .get() as [number | null, number | null, number]
      // Unique integer keys, the least 1 and the greatest n, n rows: exactly 1..n, and the
      // ordered scan below meets entry i as row i.
      if (count > 0 && (min !== 1 || max !== count)) return false
      const rows = reader.prepare('SELECT hash || entry FROM audit_entries ORDER BY seq').pluck(true)
      for (const row of rows.iterate() as Iterable<string>) {
        if (!visit(row.slice(0, 64), row.slice(64))) return false
      }
      return true
    } finally {
      reader.close()
    }
  }

  async *records(): AsyncIterable<readonly StoredRecord[]> {
    for await (const chunk of this.rows()) yield chunk.map(([rowSeq, hash, body]) => ({ rowSeq, hash, body }))
  }

  async query(q: NormalizedQuery): Promise<TokenAccessAuditEntry[]> {
    const where: string[] = []
    const params: (string | number)[] = []
    const add = (sql: string, value: string | number | undefined) => {
      if (value === undefined) return
      where.push(sql)
      params.push(value)
    }
    add('agent_id = ?', q.agentId)
    add('connection = ?', q.connection)
    add('outcome = ?', q.outcome)
    add('ts >= ?', q.since)
    add('ts <= ?', q.until)
    add('seq > ?', q.afterSeq)
    if (q.limit === 0) return []
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    const sql =
      q.limit === undefined
        ? `SELECT hash, entry FROM audit_entries ${filter} ORDER BY seq`
        : `SELECT hash, entry FROM audit_entries ${filter} ORDER BY seq DESC LIMIT ${q.limit}`
    const rows = this.#db
      .prepare(sql)
      .raw(true)
      .all(...params) as [string, string][]
    if (q.limit !== undefined) rows.reverse()
    return rows.map(([hash, entry]) => ({
      ...(JSON.parse(entry) as Omit<TokenAccessAuditEntry, 'hash'>),
      hash,
    }))
  }

  async segments(count: number, minEntries: number): Promise<Segment[] | null> {
    const row = this.#db.prepare('SELECT min(seq), max(seq), count(*) FROM audit_entries').raw(true).get() as
      | [number | null, number | null, number]
      | undefined
    const [min, max, total] = row ?? [null, null, 0]
    if (min !== 1 || max !== total) return null
    const n = Math.min(count, Math.floor(total / minEntries))
    if (n < 2) return null
    const per = Math.ceil(total / n)
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    const out: Segment[] = []
    for (let from = 1; from <= total; from += per) {
      out.push({ kind: 'sqlite', path: this.path, driver, from, to: Math.min(total, from + per - 1) })
    }
    return out
  }

  /** The connection's `PRAGMA synchronous` (1 = NORMAL, 2 = FULL). */
  synchronousLevel(): number {
    return this.#db.pragma('synchronous', { simple: true }) as number
  }

  async logId(): Promise<string | null> {
    return this.#logId
  }

  async close(): Promise<void> {
    this.#db.close()
  }
}

/** The stored tail is not the log's head: another process appended. Internal. */
export class StaleHeadError extends Error {
  override name = 'StaleHeadError'
}
