import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TokenAuditLog } from '../src/audit/index.js'
import { tempDir } from './helpers/audit-fixtures.js'

const CHILD = join(import.meta.dirname, 'helpers', 'audit-child.ts')

/** Runs the appending child until it has reported `atLeast` durable seqs, then SIGKILLs it. */
function appendUntilKilled(url: string, inFlight: number, atLeast: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, String(inFlight)], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let killed = false
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      if (!killed && out.split('\n').length > atLeast) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk
    })
    child.on('error', reject)
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`child ended without being killed: ${err}`))
      // Only whole lines: a seq is reported once its append resolved.
      const done = out.slice(0, out.lastIndexOf('\n') + 1)
      resolve(done.split('\n').filter(Boolean).map(Number))
    })
  })
}

describe.each([
  ['sqlite', 'audit.db', 16],
  ['jsonl', 'audit.jsonl', 4],
])('crash safety: %s', (kind, file, inFlight) => {
  let dir: string
  let cleanup: () => void
  beforeEach(() => {
    ;({ dir, cleanup } = tempDir())
  })
  afterEach(() => cleanup())

  it('keeps every resolved append and no partial entry after SIGKILL mid-run', async () => {
    const url = `${kind}:${join(dir, file)}`
    const reported = await appendUntilKilled(url, inFlight, 300)
    expect(reported.length).toBeGreaterThanOrEqual(300)

    const log = await TokenAuditLog.open(url)
    const result = await log.verify()
    expect(result).toMatchObject({ ok: true })
    const stored = new Set((await log.query()).map((e) => e.seq))
    expect(stored.size).toBe(result.entries)
    expect(reported.filter((seq) => !stored.has(seq))).toEqual([])
    expect(result.head.seq).toBeGreaterThanOrEqual(Math.max(...reported))
    if (kind === 'jsonl') {
      const text = readFileSync(join(dir, file), 'utf8')
      expect(text.endsWith('\n')).toBe(true)
      for (const line of text.split('\n').slice(0, -1)) expect(() => JSON.parse(line)).not.toThrow()
    }
    // The reopened log keeps chaining from the durable tail.
    const next = await log.append({
      outcome: 'granted',
      agentId: 'after-crash',
      role: 'R',
      connection: 'github',
      constitutionalHash: 'h',
      policyDigest: 'd',
    })
    expect(next.seq).toBe(result.head.seq + 1)
    expect(next.prevHash).toBe(result.head.hash)
    expect(await log.verify()).toMatchObject({ ok: true, entries: result.entries + 1 })
    await log.close()
  })
})
