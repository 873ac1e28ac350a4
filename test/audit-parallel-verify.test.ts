import { generateKeyPairSync } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TokenAuditLog } from '../src/audit/index.js'
import { auditInternals } from '../src/audit/log.js'
import { verifySegments } from '../src/audit/parallel-verify.js'
import { sampleInput, tempDir } from './helpers/audit-fixtures.js'

const N = 3000
const PARALLEL = { verifyWorkers: 3, parallelVerifyMin: 500 }

let dir: string
let cleanup: () => void
beforeEach(() => {
  ;({ dir, cleanup } = tempDir())
})
afterEach(() => cleanup())

describe.each([
  ['sqlite', 'a.db'],
  ['jsonl', 'a.jsonl'],
])('parallel verify: %s', (kind, file) => {
  const url = () => `${kind}:${join(dir, file)}`

  async function build() {
    const log = await TokenAuditLog.open(url())
    await Promise.all(Array.from({ length: N }, (_, i) => log.append(sampleInput(i))))
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const checkpoint = await log.checkpoint(privateKey)
    await log.close()
    return { checkpoint, publicKey }
  }

  it('splits the log, checks the parts in workers and agrees with the sequential walk', async () => {
    const { checkpoint, publicKey } = await build()
    const sequential = await TokenAuditLog.open(url(), { readOnly: true, verifyWorkers: 1 })
    const expected = await sequential.verify()
    await sequential.close()
    expect(expected).toMatchObject({ ok: true, entries: N })

    const log = await TokenAuditLog.open(url(), { readOnly: true, ...PARALLEL })
    const segments = await auditInternals(log).segments?.(3, 500)
    expect(segments).toHaveLength(3)
    const fast = await verifySegments(segments ?? [], N)
    expect(fast).toEqual({ entries: N, head: expected.head, watchedHash: checkpoint.hash })
    expect(await log.verify()).toEqual(expected)
    expect(await log.verify({ checkpoint, publicKey })).toEqual(expected)
    await log.close()
  })

  it('hands a damaged log to the sequential walk, which names the problem', async () => {
    await build()
    if (kind === 'sqlite') {
      const db = new Database(join(dir, file))
      db.prepare('DELETE FROM audit_entries WHERE seq = 1700').run()
      db.close()
    } else {
      const lines = readFileSync(join(dir, file), 'utf8').split('\n')
      lines.splice(1699, 1)
      writeFileSync(join(dir, file), lines.join('\n'))
    }
    const log = await TokenAuditLog.open(url(), { readOnly: true, ...PARALLEL })
    const segments = await auditInternals(log).segments?.(3, 500)
    expect(segments === null || (await verifySegments(segments ?? [], undefined)) === null).toBe(true)
    expect(await log.verify()).toMatchObject({ ok: false, problem: 'removed', firstBadSeq: 1700 })
    await log.close()
  })
})
