import { type FileHandle, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { AuditWriteError } from '../../errors.js'
import { entryLine, type SealedEntry, splitLine } from '../entry.js'
import type { Segment } from '../parallel-verify.js'
import { type AuditStore, matches, NewestN, type NormalizedQuery } from '../store.js'
import type { TokenAccessAuditEntry } from '../types.js'
import { checkTail, type StoredRecord, type TailState } from '../verify.js'

const READ_CHUNK = 4 * 1024 * 1024
const TAIL_WINDOW = 64 * 1024
const NL = 0x0a

function toRecord(line: string): StoredRecord {
  return splitLine(line) ?? { raw: line }
}

/**
 * `jsonl:PATH` — one JCS entry per line, oldest first, nothing else. A batch is one `write()` of
 * whole lines followed by one `fdatasync()`; an append resolves only after both. A failed write is
 * cut back to the last durable byte so that no partial line stays behind. One writing process
 * per file.
 */
export class JsonlStore implements AuditStore {
  readonly readOnly: boolean
  damaged: string | null = null
  /** Fault injection for tests: called with the bytes of a batch before they are written. */
  beforeWrite: ((bytes: Buffer) => void) | undefined
  readonly path: string
  #fh: FileHandle
  #size: number
  #logId: string | null | undefined

  private constructor(path: string, fh: FileHandle, size: number, readOnly: boolean) {
    this.path = path
    this.#fh = fh
    this.#size = size
    this.readOnly = readOnly
  }

  static async open(path: string, readOnly: boolean): Promise<JsonlStore> {
    let fh: FileHandle
    try {
      fh = await open(path, readOnly ? 'r' : 'a+', 0o600)
    } catch (err) {
      throw new AuditWriteError(`cannot open audit log jsonl:${path}`, { cause: err })
    }
    const { size } = await fh.stat()
    if (!readOnly && size === 0) await syncDir(dirname(path))
    return new JsonlStore(path, fh, size, readOnly)
  }

  async #read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length)
    let done = 0
    while (done < length) {
      const { bytesRead } = await this.#fh.read(buf, done, length - done, position + done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return buf.subarray(0, done)
  }

  async tail(): Promise<TailState> {
    const size = this.#size
    if (size === 0) return checkTail(undefined, undefined)
    let window = Math.min(size, TAIL_WINDOW)
    for (;;) {
      const buf = await this.#read(size - window, window)
      const torn = buf[buf.length - 1] !== NL
      const text = buf.toString('utf8')
      const pieces = text.split('\n')
      // The first piece may be cut by the window unless the window reaches the start of the file.
      const complete = window === size ? pieces.length : pieces.length - 1
      if (complete >= 3 || window === size) {
        const lastPiece = pieces.pop() ?? ''
        if (torn) {
          const before = pieces.at(-1)
          return checkTail(
            { raw: lastPiece, torn: true },
            before !== undefined ? toRecord(before) : undefined,
          )
        }
        const last = pieces.at(-1)
        const before = pieces.at(-2)
        return checkTail(
          last !== undefined ? toRecord(last) : undefined,
          before !== undefined ? toRecord(before) : undefined,
        )
      }
      window = Math.min(size, window * 4)
    }
  }

  async write(batch: readonly SealedEntry[]): Promise<void> {
    if (this.readOnly) throw new AuditWriteError(`audit log jsonl:${this.path} is open read-only`)
    let text = ''
    for (const s of batch) text += `${entryLine(s)}\n`
    const bytes = Buffer.from(text, 'utf8')
    try {
      this.beforeWrite?.(bytes)
      let done = 0
      while (done < bytes.length) {
        const { bytesWritten } = await this.#fh.write(bytes, done, bytes.length - done, null)
        done += bytesWritten
      }
      await this.#fh.datasync()
    } catch (err) {
      await this.#undo()
      throw new AuditWriteError(`cannot write audit log jsonl:${this.path}`, { cause: err })
    }
    if (this.#size === 0) this.#logId = batch[0]?.entry.id ?? null
    this.#size += bytes.length
  }

  async #undo(): Promise<void> {
    try {
      await this.#fh.truncate(this.#size)
      await this.#fh.datasync()
    } catch {
      this.damaged = `a failed write to jsonl:${this.path} could not be undone`
    }
  }

  /**
   * The file's whole lines, a read chunk at a time as one text (lines joined by `\n`), then the
   * torn text after the last newline, if any.
   */
  async *#chunks(): AsyncIterable<{ text: string; torn: boolean }> {
    const end = this.readOnly ? (await this.#fh.stat()).size : this.#size
    let position = 0
    let carry = ''
    while (position < end) {
      const buf = await this.#read(position, Math.min(READ_CHUNK, end - position))
      if (buf.length === 0) break
      position += buf.length
      const cut = buf.lastIndexOf(NL)
      if (cut < 0) {
        carry += buf.toString('utf8')
        continue
      }
      const text = carry + buf.toString('utf8', 0, cut)
      carry = buf.toString('utf8', cut + 1)
      yield { text, torn: false }
    }
    if (carry !== '') yield { text: carry, torn: true }
  }

  async *records(): AsyncIterable<readonly StoredRecord[]> {
    for await (const { text, torn } of this.#chunks()) {
      if (torn) {
        yield [{ raw: text, torn: true }]
        continue
      }
      const lines = text.split('\n')
      const out: StoredRecord[] = new Array(lines.length)
      for (let i = 0; i < lines.length; i++) out[i] = toRecord(lines[i] as string)
      yield out
    }
  }

  /**
   * The verifier's fast path: `visit(hash, body)` per line without building a record for each.
   * False on the first line that cannot be split, a torn tail, or when `visit` returns false.
   */
  async scan(visit: (hash: string, body: string) => boolean): Promise<boolean> {
    for await (const { text, torn } of this.#chunks()) {
      if (torn) return false
      let from = 0
      while (from <= text.length) {
        let to = text.indexOf('\n', from)
        if (to < 0) to = text.length
        const parts = splitLine(text.slice(from, to))
        if (parts === null || !visit(parts.hash, parts.body)) return false
        from = to + 1
      }
    }
    return true
  }

  async query(q: NormalizedQuery): Promise<TokenAccessAuditEntry[]> {
    const out = new NewestN(q.limit)
    for await (const chunk of this.records()) {
      for (const rec of chunk) {
        if (rec.body === undefined || rec.hash === undefined || rec.torn) continue
        let e: TokenAccessAuditEntry
        try {
          e = { ...(JSON.parse(rec.body) as Omit<TokenAccessAuditEntry, 'hash'>), hash: rec.hash }
        } catch {
          continue
        }
        if (matches(e, q)) out.add(e)
      }
    }
    return out.result()
  }

  /** Byte ranges that start and end on line boundaries; `minEntries` is taken as about 256 bytes each. */
  async segments(count: number, minEntries: number): Promise<Segment[] | null> {
    const end = this.readOnly ? (await this.#fh.stat()).size : this.#size
    const n = Math.min(count, Math.floor(end / (minEntries * 256)))
    if (n < 2 || (await this.#read(end - 1, 1))[0] !== NL) return null
    const cuts = [0]
    for (let i = 1; i < n; i++) {
      const approx = Math.floor((end * i) / n)
      const buf = await this.#read(approx, TAIL_WINDOW)
      const nl = buf.indexOf(NL)
      const cut = nl < 0 ? -1 : approx + nl + 1
      if (cut <= (cuts.at(-1) ?? 0) || cut >= end) return null
      cuts.push(cut)
    }
    cuts.push(end)
    return cuts.slice(1).map((cut, i) => ({ kind: 'jsonl', path: this.path, start: cuts[i] ?? 0, end: cut }))
  }

  async logId(): Promise<string | null> {
    if (this.#logId !== undefined) return this.#logId
    for await (const chunk of this.records()) {
      const first = chunk[0]
      if (!first?.body) break
      try {
        const id = (JSON.parse(first.body) as { id?: unknown }).id
        if (typeof id === 'string') this.#logId = id
      } catch {
        // an unreadable first entry: no identity
      }
      break
    }
    return this.#logId ?? null
  }

  async close(): Promise<void> {
    await this.#fh.close()
  }
}

/** Makes a new file's directory entry durable. */
async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch {
    // not every platform can fsync a directory
  } finally {
    await fh?.close()
  }
}
