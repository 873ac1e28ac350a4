import { chainHash, checkWellFormed, GENESIS_HASH, seqOf } from './entry.js'
import type { AuditHead, AuditProblem, AuditVerifyResult } from './types.js'

/**
 * One stored entry as a store hands it to the verifier. `body` is the JCS text that was hashed
 * (the entry without `hash`) and `hash` the stored hash; `raw` is set instead when the stored text
 * cannot even be split into those two. `rowSeq` is the store's own key for the entry, when it
 * has one. `torn` marks a final fragment that was never completely written.
 */
export interface StoredRecord {
  rowSeq?: number
  body?: string
  hash?: string
  raw?: string
  torn?: boolean
}

/** The state of a store's last entries, checked when a log is opened. */
export interface TailState {
  head: AuditHead
  problem: { problem: AuditProblem; seq: number; detail: string } | null
}

/**
 * Checks the last entry of a store strictly (schema, canonical text, hash) and its link to the
 * entry before it. `append()` refuses to extend a tail that fails this.
 */
export function checkTail(last: StoredRecord | undefined, before: StoredRecord | undefined): TailState {
  const empty = { seq: 0, hash: GENESIS_HASH }
  if (!last) return { head: empty, problem: null }
  const prevHead = before?.body !== undefined && before.hash !== undefined ? before : undefined
  const prevSeq = prevHead ? seqOf(prevHead.body ?? '') : 0
  const head = prevHead ? { seq: prevSeq, hash: prevHead.hash ?? GENESIS_HASH } : empty
  const seq = Number.isNaN(prevSeq) ? 0 : prevSeq + 1
  if (last.torn || last.body === undefined || last.hash === undefined) {
    return {
      head,
      problem: { problem: 'broken_tail', seq, detail: 'the last entry is incomplete or unreadable' },
    }
  }
  const wrong = checkWellFormed(last.body, last.hash)
  if (wrong) return { head, problem: { problem: 'broken_tail', seq, detail: `the last entry: ${wrong}` } }
  const lastSeq = seqOf(last.body)
  const parsed = JSON.parse(last.body) as { prevHash: string }
  const expectedPrev = prevHead ? prevHead.hash : GENESIS_HASH
  if (
    lastSeq !== seq ||
    parsed.prevHash !== expectedPrev ||
    (last.rowSeq !== undefined && last.rowSeq !== lastSeq)
  ) {
    return {
      head,
      problem: { problem: 'broken_tail', seq, detail: 'the last entry does not link to the one before it' },
    }
  }
  return { head: { seq: lastSeq, hash: last.hash }, problem: null }
}

/**
 * Whether the JCS text holds `"seq":<expected>,"stepUpId"`. The seq key sits near the end of the
 * text and only the top level has one (nested keys are code, message, scope, id, role), so the
 * last `"seq":` is the field. Compares digits in place instead of building the expected text.
 */
function seqIs(body: string, expected: number): boolean {
  const at = body.lastIndexOf('"seq":')
  if (at < 0) return false
  let i = at + 6
  let value = 0
  for (let c = body.charCodeAt(i); c >= 48 && c <= 57 && i < at + 22; c = body.charCodeAt(++i)) {
    value = value * 10 + (c - 48)
  }
  return (
    i > at + 6 && value === expected && body.charCodeAt(at + 6) !== 48 && body.startsWith(',"stepUpId"', i)
  )
}

interface Found {
  problem: AuditProblem
  seq: number
  detail: string
}

/**
 * Walks the chain one stored entry at a time, oldest first.
 *
 * The fast path hashes `expectedPrevHash ‖ storedBody` and compares it with the stored hash: a
 * match proves at once that the body is unaltered and links to the entry before (a body naming
 * another `prevHash` would need a SHA-256 collision to produce the same hash). Only when that
 * fails is the entry parsed to say what went wrong. Because every linked body is exactly what the
 * writer produced, only the final entry, which nothing links to, is also checked strictly for
 * schema and canonical form.
 */
export class ChainVerifier {
  #expected = 1
  #prev = GENESIS_HASH
  /** The hash before `#prev`, for when the last verified entry turns out to be forged. */
  #beforePrev = GENESIS_HASH
  #rollback = false
  #count = 0
  #lastBody: string | undefined
  #pendingBroken: StoredRecord | undefined
  #found: Found | undefined
  /** After a gap: the missing seq, looked for in the rest of the log. */
  #missing: number | undefined
  #missingSeen = false
  readonly #watchSeq: number | undefined
  /** The verified hash at {@link ChainVerifier.watchSeq}, when the chain got that far. */
  watchedHash: string | undefined

  constructor(watchSeq?: number) {
    this.#watchSeq = watchSeq
  }

  push(rec: StoredRecord): void {
    this.#count++
    if (this.#found) {
      if (this.#missing !== undefined && !this.#missingSeen) {
        if (seqOf(rec.body ?? rec.raw ?? '') === this.#missing) this.#missingSeen = true
      }
      return
    }
    if (this.#pendingBroken) {
      this.#stop('altered', this.#expected, `entry ${this.#expected} cannot be parsed`)
      this.push(rec)
      this.#count--
      return
    }
    const { body, hash } = rec
    if (body === undefined || hash === undefined || rec.torn) {
      this.#pendingBroken = rec
      return
    }
    if (this.#advance(rec.rowSeq, hash, body)) return
    this.#classify(rec, body, hash)
  }

  /**
   * {@link ChainVerifier.push} for a row already split into its key, hash and body. Returns
   * whether the row extended the verified chain.
   */
  pushRow(rowSeq: number | undefined, hash: string, body: string): boolean {
    if (this.#found === undefined && this.#pendingBroken === undefined) {
      this.#count++
      if (this.#advance(rowSeq, hash, body)) return true
      this.#count--
    }
    this.push(rowSeq === undefined ? { hash, body } : { rowSeq, hash, body })
    return false
  }

  #advance(rowSeq: number | undefined, hash: string, body: string): boolean {
    const expected = this.#expected
    if (
      chainHash(this.#prev, body) !== hash ||
      (rowSeq !== undefined && rowSeq !== expected) ||
      !seqIs(body, expected)
    ) {
      return false
    }
    this.#beforePrev = this.#prev
    if (expected === this.#watchSeq) this.watchedHash = hash
    this.#prev = hash
    this.#expected = expected + 1
    this.#lastBody = body
    return true
  }

  #stop(problem: AuditProblem, seq: number, detail: string): void {
    this.#found = { problem, seq, detail }
  }

  #classify(rec: StoredRecord, body: string, hash: string): void {
    const expected = this.#expected
    let parsed: { seq?: unknown; prevHash?: unknown }
    try {
      parsed = JSON.parse(body) as typeof parsed
    } catch {
      this.#pendingBroken = rec
      return
    }
    const prevHash = typeof parsed.prevHash === 'string' ? parsed.prevHash : ''
    if (chainHash(prevHash, body) !== hash) {
      this.#stop('altered', expected, `entry ${expected} does not match its hash: a field was changed`)
      return
    }
    const seq = parsed.seq
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) {
      this.#stop('altered', expected, `entry ${expected} has no valid seq`)
      return
    }
    if (seq > expected) {
      this.#missing = expected
      this.#stop('removed', expected, `entry ${expected} is missing: the next stored entry is ${seq}`)
      return
    }
    if (seq < expected) {
      // A seq already seen: the earlier one (which linked) or this one was slipped in.
      if (seq === expected - 1) this.#rollback = true
      this.#stop(
        'inserted',
        seq,
        `a second entry ${seq} follows entry ${expected - 1}: an entry was inserted`,
      )
      return
    }
    if (prevHash !== this.#prev) {
      if (expected === 1) {
        this.#stop('altered', 1, 'entry 1 does not start from the genesis hash')
        return
      }
      // This entry is genuine but does not link to the one before it, whose hash was recomputed.
      this.#rollback = true
      this.#stop(
        'inserted',
        expected - 1,
        `entry ${expected - 1} was replaced by a forged entry: entry ${expected} does not link to it`,
      )
      return
    }
    this.#stop('altered', expected, `entry ${expected} is stored under another key (${String(rec.rowSeq)})`)
  }

  /** Ends the walk and says what was found. */
  finish(): AuditVerifyResult & { found?: Found } {
    if (!this.#found && this.#pendingBroken) {
      this.#stop('broken_tail', this.#expected, 'the last entry is incomplete or cannot be parsed')
    }
    if (!this.#found && this.#lastBody !== undefined) {
      const wrong = checkWellFormed(this.#lastBody, this.#prev)
      if (wrong) {
        this.#rollback = true
        this.#stop('altered', this.#expected - 1, `entry ${this.#expected - 1}: ${wrong}`)
      }
    }
    const found = this.#found
    const head: AuditHead = this.#rollback
      ? { seq: this.#expected - 2, hash: this.#beforePrev }
      : { seq: this.#expected - 1, hash: this.#prev }
    if (!found) return { ok: true, entries: this.#count, head }
    let { problem, detail } = found
    if (problem === 'removed' && this.#missingSeen) {
      problem = 'reordered'
      detail = `entry ${found.seq} is out of order: it is stored after later entries`
    }
    return { ok: false, entries: this.#count, head, firstBadSeq: found.seq, problem, detail }
  }
}
