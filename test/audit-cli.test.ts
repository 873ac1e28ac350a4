import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type AuditVerifyResult, type TokenAccessAuditEntry, TokenAuditLog } from '../src/audit/index.js'
import { runCli } from '../src/cli/program.js'
import { sampleInput, tempDir } from './helpers/audit-fixtures.js'

let dir: string
let cleanup: () => void
let out: string
let err: string

function cli(...argv: string[]): Promise<number> {
  out = ''
  err = ''
  return runCli(argv, {
    stdout: (t) => {
      out += t
    },
    stderr: (t) => {
      err += t
    },
    env: {},
    cwd: dir,
  })
}

async function seed(url: string, n: number): Promise<TokenAccessAuditEntry[]> {
  const log = await TokenAuditLog.open(url)
  const entries: TokenAccessAuditEntry[] = []
  for (let i = 1; i <= n; i++) entries.push(await log.append(sampleInput(i)))
  await log.close()
  return entries
}

beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

describe('acgs-auth0 audit verify', () => {
  it('exit 0 and the verify() result as JSON for an intact log (bare path = sqlite)', async () => {
    const entries = await seed(`sqlite:${join(dir, 'a.db')}`, 5)
    expect(await cli('audit', 'verify', 'a.db', '--json')).toBe(0)
    expect(JSON.parse(out)).toEqual({ ok: true, entries: 5, head: { seq: 5, hash: entries[4]?.hash } })
    expect(await cli('audit', 'verify', 'sqlite:a.db')).toBe(0)
    expect(out).toMatch(/^ok: 5 entries verified/)
  })

  it('exit 4 naming the problem when the log was tampered with', async () => {
    await seed(`jsonl:${join(dir, 'a.jsonl')}`, 5)
    const path = join(dir, 'a.jsonl')
    const lines = readFileSync(path, 'utf8').split('\n')
    lines.splice(2, 1)
    writeFileSync(path, lines.join('\n'))
    expect(await cli('audit', 'verify', 'jsonl:a.jsonl', '--json')).toBe(4)
    expect(JSON.parse(out) as AuditVerifyResult).toMatchObject({
      ok: false,
      problem: 'removed',
      firstBadSeq: 3,
    })
    expect(await cli('audit', 'verify', 'jsonl:a.jsonl')).toBe(4)
    expect(out).toContain('FAILED: removed at seq 3')
  })

  it('exit 2 naming a store that does not exist, and creates nothing', async () => {
    expect(await cli('audit', 'verify', 'missing.db')).toBe(2)
    expect(err).toContain('missing.db')
    expect(existsSync(join(dir, 'missing.db'))).toBe(false)
    expect(await cli('audit', 'query', 'jsonl:nope.jsonl')).toBe(2)
    expect(err).toContain('nope.jsonl')
    expect(await cli('audit', 'verify', 'memory:')).toBe(2)
  })
})

describe('acgs-auth0 audit keygen / checkpoint / verify --checkpoint', () => {
  it('signs a checkpoint that later catches truncation', async () => {
    await seed(`sqlite:${join(dir, 'a.db')}`, 6)
    expect(await cli('audit', 'keygen', '--out-private', 'k.pem', '--out-public', 'k.pub')).toBe(0)
    expect(statSync(join(dir, 'k.pem')).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(dir, 'k.pem'), 'utf8')).toContain('BEGIN PRIVATE KEY')
    expect(out).not.toContain('BEGIN')
    expect(await cli('audit', 'keygen', '--out-private', 'k.pem', '--out-public', 'k.pub')).toBe(2)
    expect(err).toContain('exists')

    expect(await cli('audit', 'checkpoint', 'a.db', '--key', 'k.pem', '--out', 'cp.json')).toBe(0)
    const cp = JSON.parse(readFileSync(join(dir, 'cp.json'), 'utf8')) as { seq: number }
    expect(cp.seq).toBe(6)
    expect(await cli('audit', 'verify', 'a.db', '--checkpoint', 'cp.json', '--public-key', 'k.pub')).toBe(0)
    expect(out).toContain('extends checkpoint at seq 6')

    const db = new Database(join(dir, 'a.db'))
    db.prepare('DELETE FROM audit_entries WHERE seq > 4').run()
    db.close()
    expect(await cli('audit', 'verify', 'a.db')).toBe(0)
    expect(
      await cli('audit', 'verify', 'a.db', '--checkpoint', 'cp.json', '--public-key', 'k.pub', '--json'),
    ).toBe(4)
    expect(JSON.parse(out)).toMatchObject({ ok: false, problem: 'truncated', firstBadSeq: 5 })
  })

  it('usage errors: missing key file, a non-Ed25519 key, half of the checkpoint options', async () => {
    await seed(`sqlite:${join(dir, 'a.db')}`, 1)
    expect(await cli('audit', 'checkpoint', 'a.db', '--key', 'nope.pem')).toBe(2)
    expect(err).toContain('nope.pem')
    writeFileSync(join(dir, 'bad.pem'), 'not a key')
    expect(await cli('audit', 'checkpoint', 'a.db', '--key', 'bad.pem')).toBe(2)
    expect(await cli('audit', 'checkpoint', 'a.db')).toBe(2)
    expect(await cli('audit', 'verify', 'a.db', '--checkpoint', 'cp.json')).toBe(2)
  })

  it('refuses (exit 4) to sign a log that does not verify', async () => {
    await seed(`sqlite:${join(dir, 'a.db')}`, 3)
    await cli('audit', 'keygen', '--out-private', 'k.pem', '--out-public', 'k.pub')
    const db = new Database(join(dir, 'a.db'))
    db.prepare('DELETE FROM audit_entries WHERE seq = 2').run()
    db.close()
    expect(await cli('audit', 'checkpoint', 'a.db', '--key', 'k.pem', '--json')).toBe(4)
    expect(out).toBe('')
  })
})

describe('acgs-auth0 audit query / tail', () => {
  it('filters, limits and prints JSON or an aligned table', async () => {
    await seed(`sqlite:${join(dir, 'a.db')}`, 12)
    expect(await cli('audit', 'query', 'a.db', '--connection', 'github', '--limit', '2', '--json')).toBe(0)
    expect((JSON.parse(out) as TokenAccessAuditEntry[]).map((e) => e.seq)).toEqual([10, 12])
    expect(await cli('audit', 'query', 'a.db', '--outcome', 'denied_scope_violation')).toBe(0)
    const rows = out.trimEnd().split('\n')
    expect(rows[0]).toMatch(/^SEQ\s+TIMESTAMP\s+OUTCOME\s+AGENT/)
    expect(rows.slice(1).map((r) => r.split(/\s+/)[0])).toEqual(['5', '10'])
    const at = (rows[0] ?? '').indexOf('AGENT')
    for (const r of rows.slice(1)) expect(r.slice(at)).toMatch(/^agent-/)
    expect(await cli('audit', 'query', 'a.db', '--outcome', 'bogus')).toBe(2)
    expect(await cli('audit', 'query', 'a.db', '--since', 'not-a-date')).toBe(2)
    expect(await cli('audit', 'query', 'a.db', '--limit', 'x')).toBe(2)
  })

  it('never lets entry text reach the terminal as control characters', async () => {
    const log = await TokenAuditLog.open(`sqlite:${join(dir, 'a.db')}`)
    await log.append(sampleInput(1, { toolName: 'evil\u001b[2J\nfake row' }))
    await log.close()
    expect(await cli('audit', 'tail', 'a.db')).toBe(0)
    expect(out).not.toContain('\u001b')
    expect(out.trimEnd().split('\n')).toHaveLength(2)
    expect(out).toContain('evil\\u001b[2J\\u000afake row')
  })

  it('tail -n prints the newest entries; --follow prints new ones until SIGINT', async () => {
    const url = `jsonl:${join(dir, 'a.jsonl')}`
    await seed(url, 5)
    expect(await cli('audit', 'tail', url, '-n', '2', '--json')).toBe(0)
    expect((JSON.parse(out) as TokenAccessAuditEntry[]).map((e) => e.seq)).toEqual([4, 5])

    // Only the poll interval is faked; file I/O completes in real (threadpool) time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const seqs = () =>
      out
        .trimEnd()
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as TokenAccessAuditEntry).seq)
    const settle = async (n: number) => {
      for (let i = 0; i < 2000 && seqs().length < n; i++) await new Promise((r) => setImmediate(r))
    }
    try {
      const running = cli('audit', 'tail', url, '-n', '1', '--follow', '--interval', '500', '--json')
      await settle(1)
      expect(seqs()).toEqual([5])
      const writer = await TokenAuditLog.open(url)
      await writer.append(sampleInput(6))
      await writer.append(sampleInput(7))
      await writer.close()
      expect(seqs()).toEqual([5])
      await vi.advanceTimersByTimeAsync(500)
      await settle(3)
      expect(seqs()).toEqual([5, 6, 7])
      process.emit('SIGINT')
      expect(await running).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('acgs-auth0 audit repair', () => {
  it('moves a torn last line aside so that the log verifies and accepts appends again', async () => {
    const url = `jsonl:${join(dir, 'a.jsonl')}`
    await seed(url, 3)
    const torn = '{"agentId":"agent-4","approver":nu'
    writeFileSync(join(dir, 'a.jsonl'), readFileSync(join(dir, 'a.jsonl'), 'utf8') + torn)
    expect(await cli('audit', 'verify', url, '--json')).toBe(4)
    expect(JSON.parse(out)).toMatchObject({ problem: 'broken_tail', firstBadSeq: 4 })

    expect(await cli('audit', 'repair', url, '--json')).toBe(0)
    const report = JSON.parse(out) as {
      repaired: boolean
      bytes: number
      savedTo: string
      verify: AuditVerifyResult
    }
    expect(report).toMatchObject({ repaired: true, bytes: torn.length, verify: { ok: true, entries: 3 } })
    expect(readFileSync(report.savedTo, 'utf8')).toBe(torn)
    expect(statSync(report.savedTo).mode & 0o777).toBe(0o600)

    const log = await TokenAuditLog.open(url)
    expect(await log.append(sampleInput(4))).toMatchObject({ seq: 4 })
    await log.close()
    expect(await cli('audit', 'repair', url)).toBe(0)
    expect(out).toContain('no incomplete last line')
  })

  it('leaves other damage alone and exits 4', async () => {
    const url = `jsonl:${join(dir, 'a.jsonl')}`
    await seed(url, 3)
    const lines = readFileSync(join(dir, 'a.jsonl'), 'utf8').split('\n')
    lines.splice(0, 1)
    writeFileSync(join(dir, 'a.jsonl'), lines.join('\n'))
    expect(await cli('audit', 'repair', url)).toBe(4)
    expect(out).toContain('FAILED: removed at seq 1')
    expect(readFileSync(join(dir, 'a.jsonl'), 'utf8').split('\n')).toHaveLength(3)
  })
})
