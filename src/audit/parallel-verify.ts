import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { checkWellFormed, GENESIS_HASH } from './entry.js'
import type { AuditHead } from './types.js'

/** A contiguous part of a store one worker checks: a seq range of a database or a byte range of a file. */
export type Segment =
  | { kind: 'sqlite'; path: string; driver: string; from: number; to: number }
  | { kind: 'jsonl'; path: string; start: number; end: number }

interface SegmentReport {
  ok: boolean
  count: number
  firstSeq: number
  firstPrev: string | null
  lastSeq: number
  lastHash: string | null
  lastBody: string | null
  watched: string | null
}

// Plain JavaScript so that it runs the same from source (tsx, vitest) and from dist. It is the
// verifier's fast path only: any doubt is reported as not ok and the caller walks sequentially
// to classify the problem.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const crypto = require('node:crypto')
const fs = require('node:fs')
const { segment, watchSeq } = workerData
const sha = typeof crypto.hash === 'function'
  ? (t) => crypto.hash('sha256', t, 'hex')
  : (t) => crypto.createHash('sha256').update(t).digest('hex')
let expected = 0, prev = null, count = 0, firstSeq = 0, firstPrev = null, lastHash = null, lastBody = null, watched = null
function check(body, hash, rowSeq) {
  if (prev === null) {
    let p
    try { p = JSON.parse(body) } catch { return false }
    if (typeof p.prevHash !== 'string' || !Number.isSafeInteger(p.seq)) return false
    prev = firstPrev = p.prevHash
    expected = firstSeq = p.seq
  }
  if (sha(prev + body) !== hash) return false
  if (rowSeq !== undefined && rowSeq !== expected) return false
  if (!body.startsWith('"seq":' + expected + ',"stepUpId"', body.lastIndexOf('"seq":'))) return false
  if (expected === watchSeq) watched = hash
  prev = lastHash = hash
  lastBody = body
  expected++
  count++
  return true
}
let ok = true
if (segment.kind === 'sqlite') {
  const Database = require(segment.driver)
  const db = new Database(segment.path, { readonly: true, fileMustExist: true })
  // One text column per row. The keys are unique integers: n rows between from and to are
  // exactly from..to, so with the first entry's seq equal to from, every key equals its seq.
  const rows = db.prepare('SELECT hash || entry FROM audit_entries WHERE seq BETWEEN ? AND ? ORDER BY seq').pluck(true)
  let n = 0
  for (const row of rows.iterate(segment.from, segment.to)) {
    n++
    if (!check(row.slice(64), row.slice(0, 64), undefined)) { ok = false; break }
  }
  if (ok && (n !== segment.to - segment.from + 1 || firstSeq !== segment.from)) ok = false
  db.close()
} else {
  const fd = fs.openSync(segment.path, 'r')
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024)
  let pos = segment.start, carry = ''
  outer: while (pos < segment.end) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, segment.end - pos), pos)
    if (n === 0) { ok = false; break }
    pos += n
    const cut = buf.lastIndexOf(10, n - 1)
    if (cut < 0) { carry += buf.toString('utf8', 0, n); continue }
    // Line by line out of the chunk's text, so that each line's strings die young.
    const text = carry + buf.toString('utf8', 0, cut)
    carry = buf.toString('utf8', cut + 1, n)
    for (let from = 0; from <= text.length; ) {
      let to = text.indexOf('\\n', from)
      if (to < 0) to = text.length
      const i = text.indexOf(',"hash":"', from)
      if (i < 0 || i + 74 > to || text.charCodeAt(i + 73) !== 34) { ok = false; break outer }
      if (!check(text.slice(from, i) + text.slice(i + 74, to), text.slice(i + 9, i + 73))) { ok = false; break outer }
      from = to + 1
    }
  }
  if (carry !== '') ok = false
  fs.closeSync(fd)
}
parentPort.postMessage({ ok, count, firstSeq, firstPrev, lastSeq: expected - 1, lastHash, lastBody, watched })
`

function runSegment(segment: Segment, watchSeq: number | undefined): Promise<SegmentReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { segment, watchSeq: watchSeq ?? -1 } })
    worker.once('message', (m: SegmentReport) => resolve(m))
    worker.once('error', reject)
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`verify worker exited with ${code}`))
    })
  })
}

/** How many workers to use by default: the available cores, at most 8. */
export function defaultVerifyWorkers(): number {
  return Math.min(8, availableParallelism())
}

/**
 * Checks the segments in parallel worker threads and stitches them: each segment must start
 * where the one before it ended. Returns the verified head (and the hash at `watchSeq`), or
 * null when anything is in doubt, so that the caller walks sequentially and classifies.
 */
export async function verifySegments(
  segments: readonly Segment[],
  watchSeq: number | undefined,
): Promise<{ entries: number; head: AuditHead; watchedHash: string | undefined } | null> {
  let reports: SegmentReport[]
  try {
    reports = await Promise.all(segments.map((s) => runSegment(s, watchSeq)))
  } catch {
    return null
  }
  let seq = 0
  let hash = GENESIS_HASH
  let entries = 0
  let watchedHash: string | undefined
  let lastBody: string | null = null
  for (const r of reports) {
    if (!r.ok || r.count === 0 || r.firstSeq !== seq + 1 || r.firstPrev !== hash || r.lastHash === null)
      return null
    seq = r.lastSeq
    hash = r.lastHash
    entries += r.count
    lastBody = r.lastBody
    if (r.watched !== null) watchedHash = r.watched
  }
  // Nothing links to the last entry: check it strictly, as the sequential walk does.
  if (lastBody === null || checkWellFormed(lastBody, hash) !== null) return null
  return { entries, head: { seq, hash }, watchedHash }
}
