/**
 * Load run: many governed exchanges at high concurrency against the emulator on 127.0.0.1, with
 * injected faults (429, 503, latency, connection resets) and an SQLite audit log, then checks that
 * nothing was lost: every released token has exactly one `granted` entry per release, every
 * failure has its `error` entry, the chain verifies, no promise rejection went unhandled, and
 * resident memory stayed bounded. The emulator runs in a child process by default, so that the
 * memory and event-loop figures are those of the governing process alone.
 *
 *   npm run load                                   # 10,000 exchanges at concurrency 200, 5 % faults
 *   npm run load -- --exchanges 2000 --concurrency 50 --fault-rate 0.1 --json
 */

import { fork } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { fingerprintToken } from '../src/audit/fingerprint.js'
import {
  type EmulatorFault,
  type EmulatorOptions,
  type EmulatorUser,
  startTokenVaultEmulator,
  type TokenVaultEmulator,
} from '../src/emulator/index.js'
import {
  ConstitutionalTokenVault,
  MACIScopePolicy,
  TokenAuditLog,
  TokenVaultExchangeError,
  TokenVaultGovernanceError,
} from '../src/index.js'

/** Options of {@link runLoad}. */
export interface LoadOptions {
  /** Run the emulator in a child process (what the figures should measure). @defaultValue true */
  emulatorProcess?: boolean
  /** @defaultValue `10_000` */
  exchanges?: number
  /** @defaultValue `200` */
  concurrency?: number
  /** Share of exchanges before which a fault is queued. @defaultValue `0.05` */
  faultRate?: number
  /** Distinct users (subject tokens). @defaultValue `500` */
  users?: number
  /** Seed of the request and fault mix. @defaultValue `1` */
  seed?: number
  /** RSS sampling period. @defaultValue `100` */
  sampleMs?: number
  /** Progress lines. @defaultValue none */
  log?: ((line: string) => void) | undefined
}

/** What {@link runLoad} measured and checked. */
export interface LoadReport {
  exchanges: number
  concurrency: number
  durationMs: number
  exchangesPerSecond: number
  granted: number
  cached: number
  failed: number
  /** Failed exchanges by error code and upstream `error`. */
  failures: Record<string, number>
  faults: { injected: number; byKind: Record<string, number>; failedExchanges: number }
  upstreamRequests: number
  audit: {
    entries: number
    verified: boolean
    grantedEntries: number
    errorEntries: number
    otherEntries: number
  }
  checks: {
    /** Every release has exactly one `granted` entry with its fingerprint (multiset equality). */
    everyReleaseAudited: boolean
    /** As many `error` entries as failed exchanges, and nothing else. */
    everyFailureAudited: boolean
    /** Every failure was one of the package's own errors. */
    onlyOwnErrors: boolean
    chainVerifies: boolean
    noUnhandledRejection: boolean
    loopbackOnly: boolean
  }
  unhandledRejections: number
  /** Event-loop delay while the load ran (the emulator shares the loop), in ms. */
  eventLoopDelayMs: { p50: number; p99: number; max: number }
  rss: {
    peakMiB: number
    firstWindowAvgMiB: number
    lastWindowAvgMiB: number
    window: number
    samples: number
  }
  /** Heap still in use after a full GC, after the first window and at the end (needs `--expose-gc`). */
  retainedHeapMiB: { afterFirstWindow: number; atEnd: number } | null
  ok: boolean
}

const MiB = 1024 * 1024
const SCOPES = ['s0', 's1', 's2', 's3', 's4', 's5', 'read:user']

/** A small deterministic PRNG (mulberry32), so that a run can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function constitution(): string {
  return `token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: [${SCOPES.map((s) => `"${s}"`).join(', ')}]
`
}

/** Runs the load and checks it; never throws for a failed check (see `ok`). */
interface LoadEmulator {
  url: string
  inject(fault: EmulatorFault): void
  requestCount(): Promise<number>
  close(): Promise<void>
}

function inProcess(emulator: TokenVaultEmulator): LoadEmulator {
  return {
    url: emulator.url,
    inject: (fault) => emulator.inject(fault),
    requestCount: async () => emulator.requests.length,
    close: () => emulator.close(),
  }
}

async function childProcess(options: EmulatorOptions): Promise<LoadEmulator> {
  const script = fileURLToPath(new URL('./emulator-process.ts', import.meta.url))
  const child = fork(script, [], {
    execArgv: ['--import', import.meta.resolve('tsx')],
    env: { ...process.env, ACGS_EMULATOR_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { url?: string }) => (m.url ? resolve(m.url) : reject(new Error('no url'))))
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)))
  })
  let asked = 0
  return {
    url,
    inject: (fault) => child.send({ inject: fault }),
    requestCount: () =>
      new Promise((resolve) => {
        const id = ++asked
        const onMessage = (m: { id?: number; requests?: number }) => {
          if (m.id !== id) return
          child.off('message', onMessage)
          resolve(m.requests ?? 0)
        }
        child.on('message', onMessage)
        child.send({ count: id })
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.send({ close: true })
      }),
  }
}

export async function runLoad(options: LoadOptions = {}): Promise<LoadReport> {
  const exchanges = options.exchanges ?? 10_000
  const concurrency = options.concurrency ?? 200
  const faultRate = options.faultRate ?? 0.05
  const userCount = options.users ?? 500
  const random = prng(options.seed ?? 1)
  const log = options.log ?? (() => {})

  let unhandled = 0
  const onUnhandled = () => {
    unhandled++
  }
  process.on('unhandledRejection', onUnhandled)

  const dir = await mkdtemp(join(tmpdir(), 'acgs-load-'))
  const clientSecret = `load-cs-${Math.floor(random() * 2 ** 48).toString(16)}`
  const users: EmulatorUser[] = Array.from({ length: userCount }, (_, i) => ({
    userId: `auth0|load-${i}`,
    refreshToken: `load-rt-${i}-${Math.floor(random() * 2 ** 48).toString(16)}`,
    connections: { github: [...SCOPES] },
  }))
  let emulator: LoadEmulator | undefined
  let audit: TokenAuditLog | undefined
  let sampler: NodeJS.Timeout | undefined
  try {
    const emulatorOptions: EmulatorOptions = {
      host: '127.0.0.1',
      clients: [{ clientId: 'load', clientSecret }],
      users,
    }
    emulator =
      options.emulatorProcess === false
        ? inProcess(await startTokenVaultEmulator(emulatorOptions))
        : await childProcess(emulatorOptions)
    audit = await TokenAuditLog.open(`sqlite:${join(dir, 'audit.db')}`)
    const vault = new ConstitutionalTokenVault({
      policy: MACIScopePolicy.fromYamlString(constitution(), 'load.yaml'),
      audit,
      env: {},
      auth0: { domain: emulator.url, clientId: 'load', clientSecret },
      client: { maxRetries: 1, timeoutMs: 5_000, retryBaseDelayMs: 2, retryMaxDelayMs: 20 },
    })

    // resident memory: a timer sample every sampleMs, and one every 100 completions
    let done = 0
    let peak = process.memoryUsage.rss()
    const samples: { done: number; rss: number }[] = []
    const sample = () => {
      const rss = process.memoryUsage.rss()
      if (rss > peak) peak = rss
      samples.push({ done, rss })
    }
    sampler = setInterval(sample, options.sampleMs ?? 100)
    sampler.unref()

    const byKind: Record<string, number> = { '429': 0, '503': 0, latency: 0, reset: 0 }
    let injected = 0
    const inject = () => {
      const r = random()
      const times = random() < 0.3 ? 2 : 1 // twice in a row outlasts the single retry
      let fault: EmulatorFault
      let kind: string
      if (r < 0.25) {
        kind = '429'
        // half of them ask for an hour: more than the client waits, so the exchange fails at once
        fault = { status: 429, headers: { 'retry-after': random() < 0.5 ? '0' : '3600' } }
      } else if (r < 0.5) {
        kind = '503'
        fault = { status: 503 }
      } else if (r < 0.75) {
        kind = 'latency'
        fault = { latencyMs: 10 + Math.floor(random() * 90) }
      } else {
        kind = 'reset'
        fault = { reset: true }
      }
      emulator!.inject({ path: '/oauth/token', times, ...fault })
      byKind[kind] = (byKind[kind] ?? 0) + times
      injected += times
    }

    const window = Math.min(1000, Math.floor(exchanges / 5))
    const gc = (globalThis as { gc?: () => void }).gc
    let retainedFirst = 0
    const releases = new Map<string, number>()
    let granted = 0
    let cached = 0
    let failed = 0
    let foreign = 0
    const failures: Record<string, number> = {}
    let next = 0
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    const started = performance.now()
    const worker = async () => {
      for (;;) {
        const i = next++
        if (i >= exchanges) return
        if (random() < faultRate) inject()
        let mask = 0
        while (mask === 0) mask = Math.floor(random() * 2 ** SCOPES.length)
        const scopes = SCOPES.filter((_, b) => mask & (1 << b))
        const user = users[Math.floor(random() * users.length)]!
        try {
          const res = await vault.exchange({
            agentId: `agent-${i % 37}`,
            role: 'EXECUTIVE',
            connection: 'github',
            scopes,
            refreshToken: user.refreshToken,
            userId: user.userId,
            toolName: 'load',
          })
          const fp = fingerprintToken(res.accessToken)
          releases.set(fp, (releases.get(fp) ?? 0) + 1)
          granted++
          if (res.cached) cached++
        } catch (err) {
          failed++
          if (!(err instanceof TokenVaultGovernanceError)) foreign++
          const key =
            err instanceof TokenVaultExchangeError
              ? `${err.code} ${err.status} ${err.error}`
              : String((err as { code?: unknown }).code ?? (err as Error).name)
          failures[key] = (failures[key] ?? 0) + 1
        }
        done++
        if (done % 100 === 0) sample()
        if (done === window && gc) {
          gc()
          retainedFirst = process.memoryUsage().heapUsed
        }
        if (done % 1000 === 0)
          log(`${done} exchanges, ${failed} failed, rss ${(peak / MiB).toFixed(0)} MiB peak`)
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    const durationMs = performance.now() - started
    loop.disable()
    clearInterval(sampler)
    sample()
    // let anything that would reject unhandled surface before counting
    await new Promise((r) => setTimeout(r, 50))

    // measured before the checks below read the whole log into memory
    let retainedEnd = 0
    if (gc) {
      gc()
      retainedEnd = process.memoryUsage().heapUsed
    }
    const entries = await audit.query()
    const verified = await audit.verify()
    const grantedByFp = new Map<string, number>()
    let errorEntries = 0
    let grantedEntries = 0
    for (const e of entries) {
      if (e.outcome === 'granted') {
        grantedEntries++
        const fp = e.tokenFingerprint ?? 'none'
        grantedByFp.set(fp, (grantedByFp.get(fp) ?? 0) + 1)
      } else if (e.outcome === 'error') errorEntries++
    }
    const everyReleaseAudited =
      grantedByFp.size === releases.size && [...releases].every(([fp, n]) => grantedByFp.get(fp) === n)

    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0)
    const first = samples.filter((s) => s.done <= window).map((s) => s.rss)
    const last = samples.filter((s) => s.done >= exchanges - window).map((s) => s.rss)
    const checks = {
      everyReleaseAudited,
      everyFailureAudited: errorEntries === failed && entries.length === granted + failed,
      onlyOwnErrors: foreign === 0,
      chainVerifies: verified.ok && verified.entries === entries.length,
      noUnhandledRejection: unhandled === 0,
      loopbackOnly: emulator.url.startsWith('http://127.0.0.1:'),
    }
    return {
      exchanges,
      concurrency,
      durationMs: Math.round(durationMs),
      exchangesPerSecond: Math.round((exchanges / durationMs) * 1000),
      granted,
      cached,
      failed,
      failures,
      faults: { injected, byKind, failedExchanges: failed },
      upstreamRequests: await emulator.requestCount(),
      audit: {
        entries: entries.length,
        verified: verified.ok,
        grantedEntries,
        errorEntries,
        otherEntries: entries.length - grantedEntries - errorEntries,
      },
      checks,
      unhandledRejections: unhandled,
      eventLoopDelayMs: {
        p50: round(loop.percentile(50) / 1e6),
        p99: round(loop.percentile(99) / 1e6),
        max: round(loop.max / 1e6),
      },
      rss: {
        peakMiB: round(peak / MiB),
        firstWindowAvgMiB: round(avg(first) / MiB),
        lastWindowAvgMiB: round(avg(last) / MiB),
        window,
        samples: samples.length,
      },
      retainedHeapMiB: gc
        ? { afterFirstWindow: round(retainedFirst / MiB), atEnd: round(retainedEnd / MiB) }
        : null,
      ok: Object.values(checks).every(Boolean),
    }
  } finally {
    if (sampler) clearInterval(sampler)
    process.off('unhandledRejection', onUnhandled)
    await emulator?.close()
    await audit?.close()
    await rm(dir, { recursive: true, force: true })
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}

function format(r: LoadReport): string {
  const c = r.checks
  const yes = (b: boolean) => (b ? 'yes' : 'NO')
  return [
    `governed exchanges:     ${r.exchanges} at concurrency ${r.concurrency} in ${(r.durationMs / 1000).toFixed(1)} s`,
    `throughput:             ${r.exchangesPerSecond} exchanges/s`,
    `released / failed:      ${r.granted} tokens (${r.cached} from cache) / ${r.failed} refused with an error`,
    `failures:               ${
      Object.entries(r.failures)
        .map(([k, n]) => `${k} x${n}`)
        .join('; ') || 'none'
    }`,
    `faults injected:        ${r.faults.injected} (${Object.entries(r.faults.byKind)
      .map(([k, n]) => `${k} ${n}`)
      .join(
        ', ',
      )}); survived: process up, ${r.faults.injected - r.failed} absorbed by retries or harmless, ${r.failed} failed closed`,
    `upstream requests:      ${r.upstreamRequests}${r.upstreamRequests >= 10_000 ? ' (the emulator keeps the newest 10,000)' : ''}`,
    `audit entries verified: ${r.audit.entries} (${r.audit.grantedEntries} granted, ${r.audit.errorEntries} error, ${r.audit.otherEntries} other); chain ${r.audit.verified ? 'verifies' : 'BROKEN'}`,
    `every release audited:  ${yes(c.everyReleaseAudited)}; every failure audited: ${yes(c.everyFailureAudited)}; only own errors: ${yes(c.onlyOwnErrors)}`,
    `unhandled rejections:   ${r.unhandledRejections}`,
    `event-loop delay:       p50 ${r.eventLoopDelayMs.p50} ms, p99 ${r.eventLoopDelayMs.p99} ms, max ${r.eventLoopDelayMs.max} ms`,
    `resident memory:        peak ${r.rss.peakMiB} MiB (target <= 256); avg first ${r.rss.window}: ${r.rss.firstWindowAvgMiB} MiB, last ${r.rss.window}: ${r.rss.lastWindowAvgMiB} MiB (${r.rss.samples} samples)`,
    `retained heap after GC: ${r.retainedHeapMiB ? `${r.retainedHeapMiB.afterFirstWindow} MiB after ${r.rss.window}, ${r.retainedHeapMiB.atEnd} MiB at the end` : 'run with node --expose-gc to measure'}`,
    `result:                 checks ${r.ok ? 'OK' : 'FAILED'}; RSS target ${r.rss.peakMiB <= 256 ? 'met' : `MISSED (peak ${r.rss.peakMiB} > 256 MiB)`}`,
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      exchanges: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '200' },
      'fault-rate': { type: 'string', default: '0.05' },
      users: { type: 'string', default: '500' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  })
  const report = await runLoad({
    exchanges: Number(values.exchanges),
    concurrency: Number(values.concurrency),
    faultRate: Number(values['fault-rate']),
    users: Number(values.users),
    seed: Number(values.seed),
    log: values.json ? undefined : (l) => process.stderr.write(`${l}\n`),
  })
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${format(report)}\n`)
  process.exitCode = report.ok && report.rss.peakMiB <= 256 ? 0 : 1
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
