import { generateKeyPairSync } from 'node:crypto'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { entryLine, normalizeInput, sealEntry } from '../src/audit/entry.js'
import { type AuditCheckpoint, type TokenAccessAuditEntry, TokenAuditLog } from '../src/audit/index.js'
import { auditInternals } from '../src/audit/log.js'
import type { MemoryStore } from '../src/audit/stores/memory.js'
import { AuditIntegrityError } from '../src/errors.js'
import { sampleInput, tempDir } from './helpers/audit-fixtures.js'

const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const N = 10

/** A forged entry that claims `seq` and links to `prev`, with a correctly recomputed hash. */
function forge(seq: number, prev: TokenAccessAuditEntry) {
  return sealEntry(
    normalizeInput(sampleInput(seq, { agentId: 'mallory', outcome: 'granted' })),
    seq,
    '00000000-0000-4000-8000-000000000000',
    prev.timestamp,
    prev.hash,
  )
}

/** How to reach under the API of each store and damage it the way an attacker with file access would. */
interface Tamperer {
  url: (dir: string) => string
  /** Reopen after tampering (memory logs are tampered in place and not reopened). */
  reopen: boolean
  alter(log: TokenAuditLog, dir: string, seq: number): void
  remove(log: TokenAuditLog, dir: string, seq: number): void
  swap(log: TokenAuditLog, dir: string, a: number): void
  insertForged(log: TokenAuditLog, dir: string, seq: number, entries: TokenAccessAuditEntry[]): void
  truncate(log: TokenAuditLog, dir: string, keep: number): void
}

const jsonlPath = (dir: string) => join(dir, 'audit.jsonl')
const sqlitePath = (dir: string) => join(dir, 'audit.db')
const lines = (dir: string) => readFileSync(jsonlPath(dir), 'utf8').split('\n').slice(0, -1)
const writeLines = (dir: string, ls: string[]) =>
  writeFileSync(jsonlPath(dir), ls.length > 0 ? `${ls.join('\n')}\n` : '')
const memory = (log: TokenAuditLog) => (auditInternals(log) as MemoryStore).entries

function withDb(dir: string, fn: (db: Database.Database) => void): void {
  const db = new Database(sqlitePath(dir))
  try {
    fn(db)
  } finally {
    db.close()
  }
}

const stores: Record<string, Tamperer> = {
  memory: {
    url: () => 'memory:',
    reopen: false,
    alter: (log, _dir, seq) => {
      const e = memory(log)
      e[seq - 1] = { ...(e[seq - 1] as TokenAccessAuditEntry), agentId: 'mallory' }
    },
    remove: (log, _dir, seq) => void memory(log).splice(seq - 1, 1),
    swap: (log, _dir, a) => {
      const e = memory(log)
      const x = e[a - 1] as TokenAccessAuditEntry
      e[a - 1] = e[a] as TokenAccessAuditEntry
      e[a] = x
    },
    insertForged: (log, _dir, seq, entries) =>
      void memory(log).splice(seq - 1, 0, forge(seq, entries[seq - 2] as TokenAccessAuditEntry).entry),
    truncate: (log, _dir, keep) => {
      memory(log).length = keep
    },
  },
  jsonl: {
    url: (dir) => `jsonl:${jsonlPath(dir)}`,
    reopen: true,
    alter: (_log, dir, seq) => {
      const ls = lines(dir)
      ls[seq - 1] = (ls[seq - 1] as string).replace(`"agentId":"agent-${seq}"`, '"agentId":"mallory"')
      writeLines(dir, ls)
    },
    remove: (_log, dir, seq) =>
      writeLines(
        dir,
        lines(dir).filter((_, i) => i !== seq - 1),
      ),
    swap: (_log, dir, a) => {
      const ls = lines(dir)
      const x = ls[a - 1] as string
      ls[a - 1] = ls[a] as string
      ls[a] = x
      writeLines(dir, ls)
    },
    insertForged: (_log, dir, seq, entries) => {
      const ls = lines(dir)
      ls.splice(seq - 1, 0, entryLine(forge(seq, entries[seq - 2] as TokenAccessAuditEntry)))
      writeLines(dir, ls)
    },
    truncate: (_log, dir, keep) => writeLines(dir, lines(dir).slice(0, keep)),
  },
  sqlite: {
    url: (dir) => `sqlite:${sqlitePath(dir)}`,
    reopen: true,
    alter: (_log, dir, seq) =>
      withDb(dir, (db) =>
        db
          .prepare(`UPDATE audit_entries SET entry = replace(entry, ?, '"agentId":"mallory"') WHERE seq = ?`)
          .run(`"agentId":"agent-${seq}"`, seq),
      ),
    remove: (_log, dir, seq) =>
      withDb(dir, (db) => db.prepare('DELETE FROM audit_entries WHERE seq = ?').run(seq)),
    swap: (_log, dir, a) =>
      withDb(dir, (db) => {
        const move = db.prepare('UPDATE audit_entries SET seq = ? WHERE seq = ?')
        move.run(-1, a)
        move.run(a, a + 1)
        move.run(a + 1, -1)
      }),
    insertForged: (_log, dir, seq, entries) =>
      withDb(dir, (db) => {
        // Make room under the key, as an attacker must, then slip the forged row in.
        for (let s = entries.length; s >= seq; s--) {
          db.prepare('UPDATE audit_entries SET seq = ? WHERE seq = ?').run(s + 1, s)
        }
        const f = forge(seq, entries[seq - 2] as TokenAccessAuditEntry)
        db.prepare('INSERT INTO audit_entries (seq, hash, entry) VALUES (?, ?, ?)').run(
          seq,
          f.entry.hash,
          f.body,
        )
      }),
    truncate: (_log, dir, keep) =>
      withDb(dir, (db) => db.prepare('DELETE FROM audit_entries WHERE seq > ?').run(keep)),
  },
}

describe.each(Object.entries(stores))('tamper evidence: %s', (_name, t) => {
  let dir: string
  let cleanup: () => void
  let log: TokenAuditLog
  let entries: TokenAccessAuditEntry[]
  let checkpoint: AuditCheckpoint

  beforeEach(async () => {
    ;({ dir, cleanup } = tempDir())
    log = await TokenAuditLog.open(t.url(dir))
    entries = []
    for (let i = 1; i <= N; i++) entries.push(await log.append(sampleInput(i)))
    checkpoint = await log.checkpoint(privateKey)
    expect(await log.verify({ checkpoint, publicKey })).toEqual({
      ok: true,
      entries: N,
      head: { seq: N, hash: entries[N - 1]?.hash },
    })
    if (t.reopen) await log.close()
  })

  afterEach(async () => {
    await log.close()
    cleanup()
  })

  async function tampered(fn: () => void) {
    fn()
    if (t.reopen) log = await TokenAuditLog.open(t.url(dir))
    return log.verify()
  }

  it('detects one changed field as altered at that seq', async () => {
    const r = await tampered(() => t.alter(log, dir, 5))
    expect(r).toMatchObject({ ok: false, problem: 'altered', firstBadSeq: 5, head: { seq: 4 } })
    expect(r.head.hash).toBe(entries[3]?.hash)
  })

  it('detects a deleted entry as removed at that seq', async () => {
    const r = await tampered(() => t.remove(log, dir, 5))
    expect(r).toMatchObject({ ok: false, problem: 'removed', firstBadSeq: 5, entries: N - 1 })
  })

  it('detects two swapped entries as reordered at the first', async () => {
    const r = await tampered(() => t.swap(log, dir, 4))
    expect(r).toMatchObject({ ok: false, problem: 'reordered', firstBadSeq: 4, head: { seq: 3 } })
  })

  it('detects a forged entry with a recomputed hash as inserted', async () => {
    const r = await tampered(() => t.insertForged(log, dir, 5, entries))
    expect(r).toMatchObject({
      ok: false,
      problem: 'inserted',
      firstBadSeq: 5,
      entries: N + 1,
      head: { seq: 4 },
    })
  })

  it('a truncated tail still chains, and the checkpoint catches it', async () => {
    const r = await tampered(() => t.truncate(log, dir, 7))
    expect(r).toMatchObject({ ok: true, entries: 7 })
    expect(await log.verify({ checkpoint, publicKey })).toMatchObject({
      ok: false,
      problem: 'truncated',
      firstBadSeq: 8,
    })
  })

  it('the checkpoint catches a rewritten history that chains perfectly', async () => {
    const other = (i: number) => sampleInput(i, { outcome: 'granted', deniedScopes: [] })
    if (t.reopen) {
      // JSONL: a new file (its first entry, and so its logId, is new); SQLite: the same database
      // and logId, every entry replaced.
      await tampered(() => t.truncate(log, dir, 0))
      await log.close()
      log = await TokenAuditLog.open(t.url(dir))
      for (let i = 1; i <= N; i++) await log.append(other(i))
    } else {
      const forger = await TokenAuditLog.open('memory:')
      for (let i = 1; i <= N; i++) await forger.append(other(i))
      memory(log).splice(0, N, ...memory(forger))
    }
    expect(await log.verify()).toMatchObject({ ok: true, entries: N })
    const r = await log.verify({ checkpoint, publicKey })
    expect(r).toMatchObject({ ok: false, problem: 'checkpoint_mismatch' })
  })

  it('rejects a checkpoint signed by another key or edited', async () => {
    if (t.reopen) log = await TokenAuditLog.open(t.url(dir))
    const other = generateKeyPairSync('ed25519')
    expect(await log.verify({ checkpoint, publicKey: other.publicKey })).toMatchObject({
      ok: false,
      problem: 'bad_signature',
    })
    const moved = { ...checkpoint, seq: 3 }
    expect(await log.verify({ checkpoint: moved, publicKey })).toMatchObject({
      ok: false,
      problem: 'bad_signature',
    })
  })
})

describe('damaged tails', () => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => {
    ;({ dir, cleanup } = tempDir())
  })
  afterEach(() => cleanup())

  it('jsonl: a torn last line opens, verifies as broken_tail, and refuses appends', async () => {
    const url = `jsonl:${jsonlPath(dir)}`
    const log = await TokenAuditLog.open(url)
    for (let i = 1; i <= 3; i++) await log.append(sampleInput(i))
    await log.close()
    appendFileSync(jsonlPath(dir), '{"agentId":"agent-4","appro')
    const damaged = await TokenAuditLog.open(url)
    expect(await damaged.verify()).toMatchObject({
      ok: false,
      problem: 'broken_tail',
      firstBadSeq: 4,
      head: { seq: 3 },
    })
    const err = await damaged.append(sampleInput(4)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuditIntegrityError)
    expect((err as AuditIntegrityError).firstBadSeq).toBe(4)
    await damaged.close()
    expect(readFileSync(jsonlPath(dir), 'utf8').endsWith('"appro')).toBe(true)
  })

  it('sqlite: a last row that does not verify refuses appends', async () => {
    const url = `sqlite:${sqlitePath(dir)}`
    const log = await TokenAuditLog.open(url)
    for (let i = 1; i <= 3; i++) await log.append(sampleInput(i))
    await log.close()
    withDb(dir, (db) => db.prepare('UPDATE audit_entries SET hash = ? WHERE seq = 3').run('f'.repeat(64)))
    const damaged = await TokenAuditLog.open(url)
    expect(await damaged.verify()).toMatchObject({ ok: false, problem: 'altered', firstBadSeq: 3 })
    await expect(damaged.append(sampleInput(4))).rejects.toBeInstanceOf(AuditIntegrityError)
    await damaged.close()
  })

  it('jsonl: a forged last entry with a recomputed hash is caught by the checkpoint', async () => {
    const url = `jsonl:${jsonlPath(dir)}`
    const log = await TokenAuditLog.open(url)
    const entries: TokenAccessAuditEntry[] = []
    for (let i = 1; i <= 4; i++) entries.push(await log.append(sampleInput(i)))
    const checkpoint = await log.checkpoint(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    await log.close()
    const ls = lines(dir)
    ls[3] = entryLine(forge(4, entries[2] as TokenAccessAuditEntry))
    writeLines(dir, ls)
    const reopened = await TokenAuditLog.open(url)
    expect(await reopened.verify()).toMatchObject({ ok: true })
    expect(
      await reopened.verify({
        checkpoint,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      }),
    ).toMatchObject({ ok: false, problem: 'checkpoint_mismatch', firstBadSeq: 4 })
    await reopened.close()
  })
})
