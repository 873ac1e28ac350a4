import { generateKeyPairSync } from 'node:crypto'
import { appendFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { GENESIS_HASH, MAX_TEXT_BYTES, TRUNCATION_MARK } from '../src/audit/entry.js'
import { TokenAuditLog } from '../src/audit/index.js'
import { auditInternals } from '../src/audit/log.js'
import type { JsonlStore } from '../src/audit/stores/jsonl.js'
import type { MemoryStore } from '../src/audit/stores/memory.js'
import { AuditWriteError } from '../src/errors.js'
import { sampleInput, tempDir } from './helpers/audit-fixtures.js'

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

const urls = {
  memory: () => 'memory:',
  jsonl: () => `jsonl:${join(dir, 'audit.jsonl')}`,
  sqlite: () => `sqlite:${join(dir, 'audit.db')}`,
}

describe.each(Object.entries(urls))('TokenAuditLog on %s', (kind, url) => {
  it('serializes 10,000 concurrent appends into one contiguous chain, in few commits', async () => {
    const log = await TokenAuditLog.open(url())
    const store = auditInternals(log)
    const write = store.write.bind(store)
    let commits = 0
    store.write = (batch) => {
      commits++
      return write(batch)
    }
    const entries = await Promise.all(Array.from({ length: 10_000 }, (_, i) => log.append(sampleInput(i))))
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1))
    expect(entries[0]?.prevHash).toBe(GENESIS_HASH)
    for (let i = 1; i < entries.length; i++) expect(entries[i]?.prevHash).toBe(entries[i - 1]?.hash)
    expect(commits).toBeLessThanOrEqual(5)
    expect(await log.verify()).toEqual({
      ok: true,
      entries: 10_000,
      head: { seq: 10_000, hash: entries.at(-1)?.hash },
    })
    expect(await log.head()).toEqual({ seq: 10_000, hash: entries.at(-1)?.hash })
    await log.close()
  })

  it('fills the log fields and normalizes optional ones', async () => {
    const log = await TokenAuditLog.open(url())
    const e = await log.append({
      outcome: 'error',
      agentId: 'a',
      role: 'R',
      connection: 'c',
      constitutionalHash: 'h',
      policyDigest: 'd',
      approver: { id: 'alice' },
    })
    expect(e).toMatchObject({
      seq: 1,
      prevHash: GENESIS_HASH,
      toolName: null,
      userId: null,
      requestedScopes: [],
      grantedScopes: [],
      deniedScopes: [],
      stepUpScopes: [],
      excessScopes: [],
      reasons: [],
      cached: false,
      approver: { id: 'alice', role: null },
      errorCode: null,
      tokenFingerprint: null,
      stepUpId: null,
    })
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(new Date(e.timestamp).toISOString()).toBe(e.timestamp)
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
    expect(Object.isFrozen(e)).toBe(true)
    expect(await log.query()).toEqual([e])
    await log.close()
  })

  it('refuses unknown fields (a token never gets in) and unknown outcomes', async () => {
    const log = await TokenAuditLog.open(url())
    const secret = 'rt_super_secret_value'
    for (const field of ['accessToken', 'refreshToken', 'token']) {
      const err = await log.append({ ...sampleInput(1), [field]: secret } as never).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TypeError)
      expect(String((err as Error).message)).toContain(field)
      expect(String((err as Error).message)).not.toContain(secret)
    }
    await expect(log.append({ ...sampleInput(1), outcome: 'allowed' as never })).rejects.toThrow(TypeError)
    await expect(
      log.append({
        ...sampleInput(1),
        reasons: [{ code: 'permitted', message: 'x', token: secret } as never],
      }),
    ).rejects.toThrow(TypeError)
    expect(await log.head()).toEqual({ seq: 0, hash: GENESIS_HASH })
    await log.close()
  })

  it('stores free text as bounded data that cannot break the format', async () => {
    const log = await TokenAuditLog.open(url())
    const nasty = 'line1\nline2\r\u0000{"seq":99,"hash":"x"}\u2028\u001b[31m'
    const long = 'é'.repeat(5000)
    const e = await log.append(
      sampleInput(1, { toolName: nasty, userId: long, reasons: [{ code: 'permitted', message: long }] }),
    )
    await log.append(sampleInput(2))
    expect(e.toolName).toBe(nasty)
    expect(e.userId?.endsWith(TRUNCATION_MARK)).toBe(true)
    expect(Buffer.byteLength(e.userId ?? '', 'utf8')).toBeLessThanOrEqual(MAX_TEXT_BYTES)
    expect(Buffer.byteLength(e.reasons[0]?.message ?? '', 'utf8')).toBeLessThanOrEqual(MAX_TEXT_BYTES)
    const [back] = await log.query({ limit: 2 })
    expect(back).toEqual(e)
    if (kind === 'jsonl') expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n')).toHaveLength(3)
    expect(await log.verify()).toMatchObject({ ok: true, entries: 2 })
    await log.close()
  })

  it('queries by agent, connection, outcome and time, oldest first, limit keeping the newest', async () => {
    const log = await TokenAuditLog.open(url())
    for (let i = 1; i <= 20; i++) await log.append(sampleInput(i))
    const seqs = async (q: Parameters<TokenAuditLog['query']>[0]) => (await log.query(q)).map((e) => e.seq)
    expect(await seqs({})).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(await seqs({ agentId: 'agent-7' })).toEqual([7])
    expect(await seqs({ outcome: 'denied_scope_violation' })).toEqual([5, 10, 15, 20])
    expect(await seqs({ connection: 'github', limit: 3 })).toEqual([16, 18, 20])
    expect(await seqs({ connection: 'github', outcome: 'granted', limit: 2 })).toEqual([16, 18])
    expect(await seqs({ limit: 0 })).toEqual([])
    expect(await seqs({ afterSeq: 18 })).toEqual([19, 20])
    const all = await log.query()
    const t10 = all[9]?.timestamp as string
    expect((await log.query({ since: t10 })).every((e) => e.timestamp >= t10)).toBe(true)
    expect((await log.query({ until: new Date(t10) })).every((e) => e.timestamp <= t10)).toBe(true)
    expect(await seqs({ until: '2000-01-01T00:00:00Z' })).toEqual([])
    expect(await seqs({ since: '2000-01-01T00:00:00Z' })).toHaveLength(20)
    await expect(log.query({ since: 'yesterday-ish' })).rejects.toThrow(TypeError)
    await expect(log.query({ limit: -1 })).rejects.toThrow(TypeError)
    await log.close()
  })

  it('close() waits for pending appends, is idempotent, and later appends reject', async () => {
    const log = await TokenAuditLog.open(url())
    const pending = [log.append(sampleInput(1)), log.append(sampleInput(2))]
    const closing = log.close()
    await expect(log.close()).resolves.toBeUndefined()
    await closing
    expect((await Promise.all(pending)).map((e) => e.seq)).toEqual([1, 2])
    await expect(log.append(sampleInput(3))).rejects.toBeInstanceOf(AuditWriteError)
  })

  it('checkpoint(): refuses an empty log and a non-Ed25519 key', async () => {
    const log = await TokenAuditLog.open(url())
    const { privateKey } = generateKeyPairSync('ed25519')
    await expect(log.checkpoint(privateKey)).rejects.toThrow(/no entries/)
    await log.append(sampleInput(1))
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
    await expect(log.checkpoint(rsa.privateKey)).rejects.toThrow(TypeError)
    await expect(log.checkpoint('not a pem')).rejects.toThrow(TypeError)
    const cp = await log.checkpoint(privateKey)
    expect(cp).toMatchObject({ seq: 1, hash: (await log.head()).hash })
    expect(Buffer.from(cp.signature, 'base64')).toHaveLength(64)
    await expect(log.verify({ checkpoint: cp })).rejects.toThrow(/publicKey/)
    await log.close()
  })
})

describe('write failures', () => {
  it('sqlite: a failed commit rejects its whole batch and the chain continues from the durable tail', async () => {
    const path = join(dir, 'audit.db')
    const log = await TokenAuditLog.open(`sqlite:${path}`)
    const first = await Promise.all([1, 2, 3].map((i) => log.append(sampleInput(i))))
    const admin = new Database(path)
    admin.exec(`CREATE TRIGGER fail BEFORE INSERT ON audit_entries
      WHEN json_extract(NEW.entry, '$.agentId') = 'boom' BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
    const batch = ['x', 'boom', 'y', 'z'].map((a) => log.append(sampleInput(9, { agentId: a })))
    const results = await Promise.allSettled(batch)
    for (const r of results) {
      expect(r.status).toBe('rejected')
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AuditWriteError)
    }
    expect(await log.head()).toEqual({ seq: 3, hash: first[2]?.hash })
    admin.exec('DROP TRIGGER fail')
    admin.close()
    const next = await log.append(sampleInput(4))
    expect(next).toMatchObject({ seq: 4, prevHash: first[2]?.hash })
    expect(await log.verify()).toMatchObject({ ok: true, entries: 4 })
    await log.close()
  })

  it('jsonl: a failed write leaves no partial line and rejects the whole batch', async () => {
    const path = join(dir, 'audit.jsonl')
    const log = await TokenAuditLog.open(`jsonl:${path}`)
    const first = await log.append(sampleInput(1))
    const before = readFileSync(path, 'utf8')
    const store = auditInternals(log) as JsonlStore
    store.beforeWrite = (bytes) => {
      // Half the batch reaches the file, then the disk fails.
      appendFileSync(path, bytes.subarray(0, bytes.length >> 1))
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', syscall: 'write' })
    }
    const results = await Promise.allSettled([2, 3, 4].map((i) => log.append(sampleInput(i))))
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    for (const r of results) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AuditWriteError)
    expect(readFileSync(path, 'utf8')).toBe(before)
    store.beforeWrite = undefined
    const next = await log.append(sampleInput(2))
    expect(next).toMatchObject({ seq: 2, prevHash: first.hash })
    expect(await log.verify()).toMatchObject({ ok: true, entries: 2 })
    await log.close()
  })

  it('memory: a failed write rejects the batch without advancing the head', async () => {
    const log = await TokenAuditLog.open('memory:')
    const store = auditInternals(log) as MemoryStore
    store.beforeWrite = () => {
      throw new Error('boom')
    }
    await expect(log.append(sampleInput(1))).rejects.toBeInstanceOf(AuditWriteError)
    store.beforeWrite = undefined
    expect(await log.append(sampleInput(1))).toMatchObject({ seq: 1, prevHash: GENESIS_HASH })
    await log.close()
  })
})

describe('opening', () => {
  it('read-only never creates a store and refuses appends', async () => {
    const path = join(dir, 'missing.db')
    await expect(TokenAuditLog.open(`sqlite:${path}`, { readOnly: true })).rejects.toBeInstanceOf(
      AuditWriteError,
    )
    await expect(
      TokenAuditLog.open(`jsonl:${join(dir, 'missing.jsonl')}`, { readOnly: true }),
    ).rejects.toBeInstanceOf(AuditWriteError)
    expect(existsSync(path)).toBe(false)
    const w = await TokenAuditLog.open(`sqlite:${path}`)
    await w.append(sampleInput(1))
    await w.close()
    const r = await TokenAuditLog.open(`sqlite:${path}`, { readOnly: true })
    await expect(r.append(sampleInput(2))).rejects.toBeInstanceOf(AuditWriteError)
    expect(await r.head()).toMatchObject({ seq: 1 })
    await r.close()
  })

  it('TokenAuditLog.memory() gives an empty memory: log synchronously', async () => {
    const log = TokenAuditLog.memory()
    expect(log.url).toBe('memory:')
    expect(await log.append(sampleInput(1))).toMatchObject({ seq: 1, prevHash: GENESIS_HASH })
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 })
    await log.close()
  })

  it('rejects malformed URLs', async () => {
    await expect(TokenAuditLog.open('postgres://x')).rejects.toThrow(TypeError)
    await expect(TokenAuditLog.open('sqlite:')).rejects.toThrow(TypeError)
  })

  it('sqlite: a second writer on the same file continues the chain instead of forking it', async () => {
    const url = `sqlite:${join(dir, 'audit.db')}`
    const a = await TokenAuditLog.open(url)
    const b = await TokenAuditLog.open(url)
    await a.append(sampleInput(1))
    await b.append(sampleInput(2))
    await a.append(sampleInput(3))
    expect(await a.verify()).toMatchObject({ ok: true, entries: 3 })
    await a.close()
    await b.close()
  })
})
