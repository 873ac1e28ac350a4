/**
 * A smaller run of `npm run load`: 1,000 governed exchanges at concurrency 50 against the emulator
 * on 127.0.0.1 with 5 % injected faults and an SQLite audit log. Nothing may be lost: every token
 * released has its `granted` entry, every failure its `error` entry, the chain verifies, and no
 * promise rejection goes unhandled.
 */
import { describe, expect, it } from 'vitest'
import { runLoad } from '../scripts/load.js'

describe('load with injected faults', () => {
  it('1,000 exchanges at concurrency 50: nothing lost, everything audited, memory bounded', async () => {
    const report = await runLoad({ exchanges: 1_000, concurrency: 50, faultRate: 0.05, users: 200, seed: 7 })
    console.info(
      `load: ${report.exchanges} exchanges, ${report.exchangesPerSecond}/s, ${report.granted} released, ` +
        `${report.failed} failed (${JSON.stringify(report.failures)}), ${report.faults.injected} faults injected, ` +
        `${report.audit.entries} entries verified, peak RSS ${report.rss.peakMiB} MiB`,
    )
    expect(report.checks).toEqual({
      everyReleaseAudited: true,
      everyFailureAudited: true,
      onlyOwnErrors: true,
      chainVerifies: true,
      noUnhandledRejection: true,
      loopbackOnly: true,
    })
    expect(report.granted + report.failed).toBe(1_000)
    expect(report.audit.entries).toBe(1_000)
    expect(report.faults.injected).toBeGreaterThan(0)
    expect(report.failed).toBeGreaterThan(0)
    // the cache must not hide the upstream: most releases come from Auth0
    expect(report.granted - report.cached).toBeGreaterThan(report.granted / 2)
    // failures are only the package's upstream error, never something else
    for (const key of Object.keys(report.failures)) expect(key).toMatch(/^ERR_TOKEN_VAULT_EXCHANGE /)
    // bounded: generous for a test worker (the script's own target is 256 MiB)
    expect(report.rss.peakMiB).toBeLessThan(512)
  }, 180_000)
})
