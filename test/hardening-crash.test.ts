/**
 * Crash safety end to end: a child process makes governed exchanges against the emulator and
 * prints each released token's fingerprint; it is killed with SIGKILL mid-run. Reopened, the
 * audit log verifies and holds a `granted` entry for every fingerprint the child printed.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../src/emulator/index.js'
import { TokenAuditLog } from '../src/index.js'

const CHILD = join(import.meta.dirname, 'helpers', 'hardening-exchange-child.ts')
const CLIENT_SECRET = `crash-cs-${randomBytes(12).toString('hex')}`
const REFRESH_TOKEN = `crash-rt-${randomBytes(12).toString('hex')}`

/** Runs the child until it has printed `atLeast` fingerprints, SIGKILLs it, returns whole lines only. */
function exchangeUntilKilled(
  emulatorUrl: string,
  auditUrl: string,
  inFlight: number,
  atLeast: number,
): Promise<{ fingerprints: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, emulatorUrl, auditUrl, String(inFlight)],
      {
        cwd: join(import.meta.dirname, '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CHILD_CLIENT_SECRET: CLIENT_SECRET, CHILD_REFRESH_TOKEN: REFRESH_TOKEN },
      },
    )
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
      const whole = out.slice(0, out.lastIndexOf('\n') + 1)
      resolve({ fingerprints: whole.split('\n').filter(Boolean), stderr: err })
    })
  })
}

describe.each([
  ['sqlite', 'audit.db', 16],
  ['jsonl', 'audit.jsonl', 8],
])('crash safety of the governed exchange: %s', (kind, file, inFlight) => {
  let dir: string
  let emulator: TokenVaultEmulator
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'acgs-hardening-crash-'))
    emulator = await startTokenVaultEmulator({
      clients: [{ clientId: 'crash-child', clientSecret: CLIENT_SECRET }],
      users: [
        {
          userId: 'auth0|crash',
          refreshToken: REFRESH_TOKEN,
          connections: { github: ['read:user', 'repo:read'] },
        },
      ],
    })
  })
  afterEach(async () => {
    await emulator.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('every token the killed child received has its granted entry, and the log verifies', async () => {
    const url = `${kind}:${join(dir, file)}`
    const { fingerprints, stderr } = await exchangeUntilKilled(emulator.url, url, inFlight, 200)
    expect(stderr).not.toContain(CLIENT_SECRET)
    expect(fingerprints.length).toBeGreaterThanOrEqual(200)
    expect(new Set(fingerprints).size).toBe(fingerprints.length)
    for (const fp of fingerprints) expect(fp).toMatch(/^tfp_[0-9a-f]{24}$/)

    const log = await TokenAuditLog.open(url)
    try {
      const verified = await log.verify()
      expect(verified).toMatchObject({ ok: true })
      const granted = await log.query({ outcome: 'granted' })
      const audited = new Set(granted.map((e) => e.tokenFingerprint))
      expect(fingerprints.filter((fp) => !audited.has(fp))).toEqual([])
      // the log may hold more releases than were printed (killed between audit and print), never fewer
      expect(granted.length).toBeGreaterThanOrEqual(fingerprints.length)
      const exchanged = emulator.requests.filter((r) => r.path === '/oauth/token' && r.status === 200).length
      expect(granted.length).toBeLessThanOrEqual(exchanged)
      // and the reopened log goes on chaining
      const next = await log.append({
        outcome: 'error',
        agentId: 'after-crash',
        role: 'EXECUTIVE',
        connection: 'github',
        constitutionalHash: '608508a9bd224290',
        policyDigest: 'sha256:0',
      })
      expect(next.prevHash).toBe(verified.head.hash)
      expect((await log.verify()).ok).toBe(true)
    } finally {
      await log.close()
    }
  }, 60_000)
})
