/**
 * The audit log: durable appends per second for `sqlite:` and `jsonl:`, one at a time (each
 * awaited) and 256 in flight (group commit), against raw better-sqlite3 inserts of the same rows
 * in one transaction each with the same pragmas (WAL, `synchronous = FULL`); and `verify()`
 * entries per second over a log of 1,000,000 entries, against a raw scan that only reads each
 * row and hashes it.
 *
 * `sqlite:PATH?synchronous=normal` is shown next to the default for comparison only: it survives a
 * crash of the process but may lose the last commits on power loss, so it is not a durable append.
 * Verify also shows the ceiling: SHA-256 of the same bytes in memory, without reading anything.
 *
 * Targets: ≥ 50,000 durable appends/s at 256 in flight on SQLite; verify ≥ 500,000 entries/s.
 * `AUDIT_BENCH_VERIFY_N` changes the size of the verified log.
 */
import { hash, randomUUID } from 'node:crypto'
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import {
  entryLine,
  GENESIS_HASH,
  type NormalizedInput,
  normalizeInput,
  type SealedEntry,
  sealEntry,
} from '../src/audit/entry.js'
import { type AuditEntryInput, TokenAuditLog } from '../src/audit/index.js'
import { defaultVerifyWorkers } from '../src/audit/parallel-verify.js'
import { fmtNs, measureAsync, ratio, table } from './harness.js'

const SERIAL = 1_000
const IN_FLIGHT = 256
const CONCURRENT_TOTAL = 50_000
const VERIFY_N = Number(process.env.AUDIT_BENCH_VERIFY_N ?? 1_000_000)

function input(i: number): AuditEntryInput {
  return {
    outcome: i % 7 === 0 ? 'denied_scope_violation' : 'granted',
    agentId: `agent-${i % 50}`,
    role: 'EXECUTIVE',
    connection: i % 2 === 0 ? 'github' : 'google-oauth2',
    toolName: 'list_issues',
    requestedScopes: ['repo:read', 'read:user'],
    grantedScopes: ['repo:read', 'read:user'],
    reasons: [{ code: 'permitted', message: 'every requested scope is permitted for EXECUTIVE on github' }],
    constitutionalHash: '608508a9bd224290',
    policyDigest: `sha256:${'ab'.repeat(32)}`,
    tokenFingerprint: 'tfp_0123456789abcdef01234567',
  }
}

async function appendRate(url: string, concurrency: number, total: number) {
  const log = await TokenAuditLog.open(url)
  const r = await measureAsync((i) => log.append(input(i)), { total, concurrency, warmup: 50 })
  const ok = (await log.verify()).ok
  await log.close()
  if (!ok) throw new Error(`${url} does not verify after the benchmark`)
  return r
}

/** Raw better-sqlite3: the same rows, the same pragmas, one INSERT per transaction. */
async function rawSqliteRate(path: string, total: number) {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, entry TEXT NOT NULL)')
  const insert = db.prepare('INSERT INTO t (seq, hash, entry) VALUES (?, ?, ?)')
  const rows: [number, string, string][] = []
  let prev = GENESIS_HASH
  for (let i = 0; i < total + 50; i++) {
    const s = sealEntry(normalizeInput(input(i)), i + 1, randomUUID(), new Date().toISOString(), prev)
    prev = s.entry.hash
    rows.push([s.entry.seq, s.entry.hash, s.body])
  }
  const r = await measureAsync(
    async (i) => {
      const row = rows[i] as [number, string, string]
      insert.run(row[0], row[1], row[2])
    },
    { total, concurrency: 1, warmup: 0 },
  )
  db.close()
  return r
}

/**
 * Builds a large log quickly: the store is created through the API, then the same sealed
 * entries `append()` would produce are written in bulk (no fsync per batch).
 */
async function buildLog(kind: 'sqlite' | 'jsonl', path: string, n: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  const log = await TokenAuditLog.open(`${kind}:${path}`)
  await log.close()
  let prev = GENESIS_HASH
  const fields = Array.from({ length: 64 }, (_, i) => normalizeInput(input(i)))
  const timestamp = new Date().toISOString()
  const step = 50_000
  const db = kind === 'sqlite' ? new Database(path) : undefined
  db?.pragma('synchronous = OFF')
  const insert = db?.prepare('INSERT INTO audit_entries (seq, hash, entry) VALUES (?, ?, ?)')
  for (let i = 0; i < n; i += step) {
    const batch: SealedEntry[] = []
    for (let j = i; j < Math.min(n, i + step); j++) {
      const s = sealEntry(fields[j % 64] as NormalizedInput, j + 1, randomUUID(), timestamp, prev)
      prev = s.entry.hash
      batch.push(s)
    }
    if (db && insert) {
      db.transaction(() => {
        for (const s of batch) insert.run(s.entry.seq, s.entry.hash, s.body)
      })()
    } else {
      appendFileSync(path, `${batch.map(entryLine).join('\n')}\n`)
    }
  }
  db?.close()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

async function verifyRate(
  url: string,
  verifyWorkers?: number,
): Promise<{ perSec: number; seconds: number; entries: number }> {
  const log = await TokenAuditLog.open(
    url,
    verifyWorkers === undefined ? { readOnly: true } : { readOnly: true, verifyWorkers },
  )
  const t0 = process.hrtime.bigint()
  const r = await log.verify()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await log.close()
  if (!r.ok) throw new Error(`${url} does not verify: ${r.problem}`)
  return { perSec: r.entries / seconds, seconds, entries: r.entries }
}

/**
 * The machine's ceiling for a verifier: SHA-256 of the same bytes (`prevHash ‖ body` of the
 * first 100,000 entries, already in memory as strings) in a tight loop.
 */
function hashCeilingRate(path: string): number {
  const db = new Database(path, { readonly: true })
  const inputs = (
    db.prepare('SELECT hash, entry FROM audit_entries ORDER BY seq LIMIT 100000').raw(true).all() as [
      string,
      string,
    ][]
  ).map(([, entry], i, rows) => (rows[i - 1]?.[0] ?? GENESIS_HASH) + entry)
  db.close()
  let sink = ''
  const t0 = process.hrtime.bigint()
  for (const text of inputs) sink = hash('sha256', text, 'hex')
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  if (sink.length !== 64) throw new Error('unreachable')
  return inputs.length / seconds
}

/** The floor for a verifier: read every row and hash it, nothing else. */
function rawScanRate(path: string): number {
  const db = new Database(path, { readonly: true })
  const t0 = process.hrtime.bigint()
  let n = 0
  let prev = GENESIS_HASH
  for (const row of db.prepare('SELECT hash, entry FROM audit_entries ORDER BY seq').raw(true).iterate()) {
    prev = hash('sha256', prev + (row as [string, string])[1], 'hex')
    n++
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  db.close()
  return n / seconds
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'acgs-audit-bench-'))
  try {
    const sqliteSerial = await appendRate(`sqlite:${join(dir, 's1.db')}`, 1, SERIAL)
    const sqliteGroup = await appendRate(`sqlite:${join(dir, 's256.db')}`, IN_FLIGHT, CONCURRENT_TOTAL)
    const sqliteNormal = await appendRate(
      `sqlite:${join(dir, 'n256.db')}?synchronous=normal`,
      IN_FLIGHT,
      CONCURRENT_TOTAL,
    )
    const jsonlSerial = await appendRate(`jsonl:${join(dir, 'j1.jsonl')}`, 1, SERIAL)
    const jsonlGroup = await appendRate(`jsonl:${join(dir, 'j256.jsonl')}`, IN_FLIGHT, CONCURRENT_TOTAL)
    const raw = await rawSqliteRate(join(dir, 'raw.db'), SERIAL)
    const row = (name: string, r: { throughput: number; medianNs: number; p90Ns: number }) => ({
      name,
      'appends/s': Math.round(r.throughput),
      'median latency': fmtNs(r.medianNs),
      'p90 latency': fmtNs(r.p90Ns),
      'vs raw': `${(r.throughput / raw.throughput).toFixed(2)}×`,
    })
    table('durable appends (WAL + synchronous=FULL; jsonl: write + fdatasync)', [
      row('raw better-sqlite3, 1 txn per insert (baseline)', raw),
      row('sqlite: one at a time', sqliteSerial),
      row(`sqlite: ${IN_FLIGHT} in flight`, sqliteGroup),
      row(`sqlite:?synchronous=normal ${IN_FLIGHT} in flight (not power-loss safe)`, sqliteNormal),
      row('jsonl: one at a time', jsonlSerial),
      row(`jsonl: ${IN_FLIGHT} in flight`, jsonlGroup),
    ])
    ratio(
      'sqlite one-at-a-time / raw',
      sqliteSerial.throughput / raw.throughput,
      '≥ 0.8',
      sqliteSerial.throughput >= 0.8 * raw.throughput,
    )
    ratio(
      `sqlite ${IN_FLIGHT} in flight / raw`,
      sqliteGroup.throughput / raw.throughput,
      '≫ 1',
      sqliteGroup.throughput > raw.throughput,
    )
    ratio(
      `sqlite appends/s at ${IN_FLIGHT} in flight (thousands)`,
      sqliteGroup.throughput / 1000,
      '≥ 50',
      sqliteGroup.throughput >= 50_000,
    )
    ratio(
      `jsonl ${IN_FLIGHT} in flight / one at a time`,
      jsonlGroup.throughput / jsonlSerial.throughput,
      '≫ 1',
      jsonlGroup.throughput > jsonlSerial.throughput,
    )

    const sqliteUrl = `sqlite:${join(dir, 'big.db')}`
    const jsonlUrl = `jsonl:${join(dir, 'big.jsonl')}`
    const buildSqlite = await buildLog('sqlite', join(dir, 'big.db'), VERIFY_N)
    const buildJsonl = await buildLog('jsonl', join(dir, 'big.jsonl'), VERIFY_N)
    const vs = await verifyRate(sqliteUrl)
    const vj = await verifyRate(jsonlUrl)
    const vs1 = await verifyRate(sqliteUrl, 1)
    const vj1 = await verifyRate(jsonlUrl, 1)
    const workers = defaultVerifyWorkers()
    const scan = rawScanRate(join(dir, 'big.db'))
    const ceiling = hashCeilingRate(join(dir, 'big.db'))
    table(`verify() over ${VERIFY_N.toLocaleString('en')} entries`, [
      {
        name: 'sha256 of the same bytes in memory, 1 thread (ceiling)',
        'entries/s': Math.round(ceiling),
        seconds: '-',
        build: '-',
      },
      {
        name: 'raw scan + sha256 per row (floor)',
        'entries/s': Math.round(scan),
        seconds: '-',
        build: '-',
      },
      {
        name: 'sqlite: verify(), 1 thread',
        'entries/s': Math.round(vs1.perSec),
        seconds: vs1.seconds.toFixed(2),
        build: '-',
      },
      {
        name: `sqlite: verify(), ${workers} workers`,
        'entries/s': Math.round(vs.perSec),
        seconds: vs.seconds.toFixed(2),
        build: `${buildSqlite.toFixed(1)} s`,
      },
      {
        name: 'jsonl: verify(), 1 thread',
        'entries/s': Math.round(vj1.perSec),
        seconds: vj1.seconds.toFixed(2),
        build: '-',
      },
      {
        name: `jsonl: verify(), ${workers} workers`,
        'entries/s': Math.round(vj.perSec),
        seconds: vj.seconds.toFixed(2),
        build: `${buildJsonl.toFixed(1)} s`,
      },
    ])
    ratio('sqlite verify entries/s (thousands)', vs.perSec / 1000, '≥ 500', vs.perSec >= 500_000)
    ratio('jsonl verify entries/s (thousands)', vj.perSec / 1000, '≥ 500', vj.perSec >= 500_000)
    ratio('sqlite verify, 1 thread / raw scan floor', vs1.perSec / scan, '≥ 0.8', vs1.perSec >= 0.8 * scan)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
