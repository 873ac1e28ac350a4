import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseAuditUrl, TokenAuditLog } from '../src/audit/index.js'
import { auditInternals } from '../src/audit/log.js'
import type { SqliteStore } from '../src/audit/stores/sqlite.js'
import { AuditWriteError } from '../src/errors.js'
import { sampleInput, tempDir } from './helpers/audit-fixtures.js'

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

const append = (log: TokenAuditLog, n: number, from = 0) =>
  Promise.all(Array.from({ length: n }, (_, i) => log.append(sampleInput(from + i))))

describe('parseAuditUrl: the sqlite durability knob', () => {
  it('defaults to full and accepts ?synchronous=full|normal on sqlite: only', () => {
    expect(parseAuditUrl('sqlite:./a.db')).toEqual({ kind: 'sqlite', path: './a.db' })
    expect(parseAuditUrl('sqlite:./a.db?synchronous=normal')).toEqual({
      kind: 'sqlite',
      path: './a.db',
      synchronous: 'normal',
    })
    expect(parseAuditUrl('sqlite:/x/a.db?synchronous=full')).toEqual({
      kind: 'sqlite',
      path: '/x/a.db',
      synchronous: 'full',
    })
    // Other text after ? stays part of the path.
    expect(parseAuditUrl('sqlite:a?b.db')).toEqual({ kind: 'sqlite', path: 'a?b.db' })
    expect(parseAuditUrl('jsonl:a?b.jsonl')).toEqual({ kind: 'jsonl', path: 'a?b.jsonl' })
    expect(() => parseAuditUrl('sqlite:a.db?synchronous=off')).toThrow(TypeError)
    expect(() => parseAuditUrl('sqlite:a.db?synchronous=')).toThrow(TypeError)
    expect(() => parseAuditUrl('jsonl:a.jsonl?synchronous=normal')).toThrow(TypeError)
    expect(() => parseAuditUrl('sqlite:?synchronous=normal')).toThrow(TypeError)
  })

  it('opens the connection with NORMAL only when asked, FULL otherwise', async () => {
    const path = join(dir, 'a.db')
    const normal = await TokenAuditLog.open(`sqlite:${path}?synchronous=normal`)
    expect((auditInternals(normal) as SqliteStore).synchronousLevel()).toBe(1)
    await append(normal, 3)
    await normal.close()
    const full = await TokenAuditLog.open(`sqlite:${path}`)
    expect((auditInternals(full) as SqliteStore).synchronousLevel()).toBe(2)
    expect(await full.verify()).toMatchObject({ ok: true, entries: 3 })
    await full.close()
  })
})

describe('sqlite: batches and page size', () => {
  it.each([1, 63, 64, 65, 129, 200])('commits a batch of %i in one transaction, contiguous', async (n) => {
    const log = await TokenAuditLog.open(`sqlite:${join(dir, 'a.db')}`, { maxBatch: 130 })
    const entries = await append(log, n)
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    const stored = await log.query()
    expect(stored.map((e) => [e.seq, e.hash])).toEqual(entries.map((e) => [e.seq, e.hash]))
    expect(await log.verify()).toMatchObject({ ok: true, entries: n })
    await log.close()
  })

  it('a batch that fails mid-way stores nothing, rejects all of it, and the chain continues', async () => {
    const path = join(dir, 'a.db')
    const log = await TokenAuditLog.open(`sqlite:${path}`)
    await append(log, 10)
    const other = new Database(path)
    other.exec(
      "CREATE TRIGGER boom BEFORE INSERT ON audit_entries WHEN NEW.seq = 80 BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    // One batch of 100 (seq 11..110); the insert of seq 80 fails half-way through it.
    const settled = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => log.append(sampleInput(i))),
    )
    expect(settled.every((r) => r.status === 'rejected' && r.reason instanceof AuditWriteError)).toBe(true)
    expect(other.prepare('SELECT count(*) FROM audit_entries').pluck().get()).toBe(10)
    expect(await log.head()).toMatchObject({ seq: 10 })
    other.exec('DROP TRIGGER boom')
    other.close()
    const next = await append(log, 100, 20)
    expect(next[0]?.seq).toBe(11)
    expect(next.at(-1)?.seq).toBe(110)
    expect(await log.verify()).toMatchObject({ ok: true, entries: 110 })
    await log.close()
  })

  it('creates new logs with 16 KiB pages and keeps an existing log at its page size', async () => {
    const fresh = join(dir, 'new.db')
    await (await TokenAuditLog.open(`sqlite:${fresh}`)).close()
    const check = new Database(fresh, { readonly: true })
    expect(check.pragma('page_size', { simple: true })).toBe(16384)
    check.close()

    const old = join(dir, 'old.db')
    const pre = new Database(old)
    pre.pragma('page_size = 4096')
    pre.exec('CREATE TABLE placeholder (x)')
    pre.close()
    const log = await TokenAuditLog.open(`sqlite:${old}`)
    await append(log, 70)
    expect(await log.verify()).toMatchObject({ ok: true, entries: 70 })
    await log.close()
    const after = new Database(old, { readonly: true })
    expect(after.pragma('page_size', { simple: true })).toBe(4096)
    after.close()
  })
})

describe('verify fast paths hand anything in doubt to the classifying walk', () => {
  it('sqlite: an entry stored under another key is found although its chain is intact', async () => {
    const path = join(dir, 'a.db')
    const log = await TokenAuditLog.open(`sqlite:${path}`, { verifyWorkers: 1 })
    await append(log, 20)
    const db = new Database(path)
    db.prepare('UPDATE audit_entries SET seq = 25 WHERE seq = 20').run()
    db.close()
    const r = await log.verify()
    expect(r).toMatchObject({ ok: false, problem: 'altered', firstBadSeq: 20, head: { seq: 19 } })
    expect(r.detail).toMatch(/another key/)
    await log.close()
  })

  it('sqlite: a hash column of the wrong length is altered at that seq', async () => {
    const path = join(dir, 'a.db')
    const log = await TokenAuditLog.open(`sqlite:${path}`, { verifyWorkers: 1 })
    const entries = await append(log, 20)
    const db = new Database(path)
    db.prepare('UPDATE audit_entries SET hash = ? WHERE seq = 7').run(`${entries[6]?.hash}0`)
    db.close()
    expect(await log.verify()).toMatchObject({ ok: false, problem: 'altered', firstBadSeq: 7 })
    await log.close()
  })

  it('jsonl: a blank line in the middle is classified by the walk, not skipped', async () => {
    const path = join(dir, 'a.jsonl')
    const log = await TokenAuditLog.open(`jsonl:${path}`, { verifyWorkers: 1 })
    await append(log, 10)
    await log.close()
    const lines = readFileSync(path, 'utf8').split('\n')
    lines.splice(5, 0, '')
    writeFileSync(path, lines.join('\n'))
    const reopened = await TokenAuditLog.open(`jsonl:${path}`, { readOnly: true, verifyWorkers: 1 })
    const r = await reopened.verify()
    expect(r.ok).toBe(false)
    expect(r.firstBadSeq).toBe(6)
    await reopened.close()
  })

  it('jsonl: a torn last line is broken_tail, with every whole entry counted', async () => {
    const path = join(dir, 'a.jsonl')
    const log = await TokenAuditLog.open(`jsonl:${path}`, { verifyWorkers: 1 })
    await append(log, 10)
    await log.close()
    appendFileSync(path, '{"agentId":"x"')
    const reopened = await TokenAuditLog.open(`jsonl:${path}`, { readOnly: true, verifyWorkers: 1 })
    expect(await reopened.verify()).toMatchObject({
      ok: false,
      problem: 'broken_tail',
      firstBadSeq: 11,
      head: { seq: 10 },
    })
    await reopened.close()
  })
})
