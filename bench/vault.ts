/**
 * The governed exchange against the emulator, side by side with its baselines in one run.
 *
 * 1. Governance overhead, token cache off: the bare protocol-layer `TokenVaultClient.exchange()`
 *    vs `vault.exchange()` with (a) a `memory:` audit log — the pure cost of governance —,
 *    (b) an SQLite audit log (`synchronous = FULL`, the default) and, when the audit store
 *    supports it, (c) `sqlite:PATH?synchronous=normal`; sequential and at concurrency 32.
 *    Target ≤ 1.10 at the median. Each ratio is the median over rounds of the ratio of the
 *    medians within one round, so a burst of other work on the machine moves both sides.
 *
 *    Why the sequential SQLite ratio cannot reach 1.10 on most disks: the vault may return a
 *    token only after its `granted` entry is durable (DESIGN §5), and that entry can only be
 *    written once Auth0 has answered (it records the scopes Auth0 returned). So a sequential
 *    exchange is the upstream call *plus* one durable commit — with `synchronous = FULL`, one
 *    fsync of the WAL. Nothing can overlap them when only one request is in flight, so the ratio
 *    is bounded below by (bare + one commit) / bare, which this bench measures and prints as the
 *    floor next to the ratio. At concurrency 32 the log's group commit shares one fsync among
 *    every entry waiting for it, and the ratio comes down to the governance cost itself.
 *
 * 2. Cache-hit `vault.exchange()` throughput at concurrency 256 — every hit still validated and
 *    audited (`cached: true`) — vs `audit.append()` of the same entry alone on a log of the same
 *    kind. Target ≥ 20,000/s with the SQLite audit log. The vault's own cost of a cache hit is
 *    shown twice: against an audit log that records nothing (the vault alone), and as the
 *    per-operation difference between the `memory:` hit and the `memory:` append.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AuditEntryInput } from '../src/audit/types.js'
import { resolveAuth0Config, TokenVaultClient } from '../src/auth0/index.js'
import { startTokenVaultEmulator } from '../src/emulator/index.js'
import { ConstitutionalTokenVault, MACIScopePolicy, TokenAuditLog } from '../src/index.js'
import { fmtNs, measureAsync, ratio, table } from './harness.js'

const CLIENT = { clientId: 'bench', clientSecret: 'cs_bench_0123456789abcdef' }
const RT = 'rt_bench_0123456789abcdef0123'
const YAML = `
token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
        high_risk_scopes: []
`
const REQUEST = {
  agentId: 'planner',
  role: 'EXECUTIVE',
  connection: 'github',
  scopes: ['repo:read'],
  refreshToken: RT,
  toolName: 'bench',
}

type Result = Awaited<ReturnType<typeof measureAsync>>
type Log = Awaited<ReturnType<typeof TokenAuditLog.open>>
interface Variant {
  name: string
  fn: (i: number) => Promise<unknown>
}

/**
 * Runs every variant `rounds` times, in a rotated order each round so that none always runs
 * first or last. Keeps each one's round with the best median (the least disturbed by the other
 * work on the machine) for the table, and every round for {@link pairedRatio}.
 */
async function interleaved(
  variants: readonly Variant[],
  opts: { total: number; concurrency: number; warmup: number },
  rounds: number,
): Promise<{ best: Result[]; rounds: Result[][] }> {
  const best: (Result | undefined)[] = variants.map(() => undefined)
  const all: Result[][] = []
  for (let r = 0; r < rounds; r++) {
    const round: Result[] = []
    for (let j = 0; j < variants.length; j++) {
      const k = (j + r) % variants.length
      const s = await measureAsync((variants[k] as Variant).fn, opts)
      round[k] = s
      const b = best[k]
      if (!b || s.medianNs < b.medianNs) best[k] = s
    }
    all.push(round)
  }
  return { best: best as Result[], rounds: all }
}

/**
 * The median over rounds of `f(round)`: a ratio taken within one round compares runs made
 * seconds apart under the same load, which varies far less than the load between rounds.
 */
function pairedRatio(rounds: readonly Result[][], f: (round: readonly Result[]) => number): number {
  const values = rounds.map(f).sort((a, b) => a - b)
  const mid = values.length >> 1
  return values.length % 2 === 1
    ? (values[mid] as number)
    : ((values[mid - 1] as number) + (values[mid] as number)) / 2
}

const at = (round: readonly Result[], i: number) => (round[i] as Result).medianNs

const row = (name: string, s: Result, extra: Record<string, string> = {}) => ({
  name,
  median: fmtNs(s.medianNs),
  p10: fmtNs(s.p10Ns),
  p90: fmtNs(s.p90Ns),
  'ops/s': Math.round(s.throughput),
  ...extra,
})

/** The entry a cache hit writes, as `append()` takes it. */
async function hitEntry(log: Log): Promise<AuditEntryInput> {
  const [written] = await log.query({ limit: 1 })
  if (written?.outcome !== 'granted') throw new Error('the vault wrote no granted entry')
  const { seq: _seq, id: _id, timestamp: _ts, prevHash: _prev, hash: _hash, ...entry } = written
  return { ...entry, cached: true }
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'acgs-bench-vault-'))
  const emulator = await startTokenVaultEmulator({
    clients: [CLIENT],
    users: [{ userId: 'auth0|bench', refreshToken: RT, connections: { github: ['read:user', 'repo:read'] } }],
  })
  const logs: Log[] = []
  const open = async (url: string) => {
    const log = await TokenAuditLog.open(url)
    logs.push(log)
    return log
  }
  // (c) only when the store understands the option: an older one would open a file literally
  // named `…?synchronous=normal` with FULL durability, and the figures would be mislabelled.
  const normal = async (name: string): Promise<Log | undefined> => {
    const path = join(dir, name)
    const log = await open(`sqlite:${path}?synchronous=normal`)
    return existsSync(path) ? log : undefined
  }
  try {
    const policy = MACIScopePolicy.fromYamlString(YAML)
    const auth0 = resolveAuth0Config({ domain: emulator.url, ...CLIENT }, {})
    const client = new TokenVaultClient(auth0)
    const bare = () =>
      client.exchange({
        subjectToken: RT,
        subjectTokenType: 'refresh_token',
        connection: 'github',
        scopes: ['repo:read'],
      })
    const vaultOn = (audit: Log, cache: boolean) =>
      new ConstitutionalTokenVault({ policy, audit, auth0, env: {}, ...(cache ? {} : { cache: false }) })

    // ---- 1. governance overhead, cache off --------------------------------------------------
    const memory = await open('memory:')
    const full = await open(`sqlite:${join(dir, 'governed-full.db')}`)
    const norm = await normal('governed-normal.db')
    const floorLog = await open(`sqlite:${join(dir, 'append-full.db')}`)
    const governed: { label: string; vault: ConstitutionalTokenVault }[] = [
      { label: '(a) memory: audit', vault: vaultOn(memory, false) },
      { label: '(b) SQLite audit, synchronous=FULL', vault: vaultOn(full, false) },
    ]
    if (norm) governed.push({ label: '(c) SQLite audit, synchronous=NORMAL', vault: vaultOn(norm, false) })
    await governed[0]?.vault.exchange(REQUEST)
    const entry = await hitEntry(memory)

    for (const concurrency of [1, 32]) {
      const variants: Variant[] = [
        { name: 'baseline: TokenVaultClient.exchange()', fn: bare },
        ...governed.map((g) => ({
          name: `vault.exchange(), ${g.label}`,
          fn: () => g.vault.exchange(REQUEST),
        })),
      ]
      // sequentially, what (b) cannot beat: the bare exchange followed by one durable commit
      if (concurrency === 1)
        variants.push(
          { name: 'one durable commit: audit.append(), SQLite FULL', fn: () => floorLog.append(entry) },
          {
            name: 'floor: bare exchange, then one durable commit',
            fn: async () => {
              await bare()
              await floorLog.append(entry)
            },
          },
        )
      // HTTP through the in-process emulator is the noisiest figure here: more, shorter rounds
      const total = concurrency === 1 ? 500 : 1_500
      const { best, rounds } = await interleaved(
        variants,
        { total, concurrency, warmup: 50 },
        concurrency === 1 ? 3 : 5,
      )
      const vsBare = variants.map((_, i) => pairedRatio(rounds, (r) => at(r, i) / at(r, 0)))
      table(
        `exchange against the emulator, concurrency ${concurrency}, cache off (best round of each; "vs bare" is the median over rounds of the ratio within a round)`,
        variants.map((v, i) =>
          row(v.name, best[i] as Result, { 'vs bare': (vsBare[i] as number).toFixed(2) }),
        ),
      )
      governed.forEach((g, i) => {
        const r = vsBare[i + 1] as number
        ratio(
          `governance overhead at the median, ${g.label}, concurrency ${concurrency}`,
          r,
          '<= 1.10',
          r <= 1.1,
        )
      })
      if (concurrency === 1) {
        const floor = variants.length - 1
        const b = 2 // (b), SQLite FULL
        console.log(
          `  floor of (b) sequentially, one fsync per exchange: (bare exchange, then one durable commit) / bare = ${(vsBare[floor] as number).toFixed(2)} ` +
            `(one commit alone: ${fmtNs((best[floor - 1] as Result).medianNs)}); ` +
            `(b) / floor = ${pairedRatio(rounds, (r) => at(r, b) / at(r, floor)).toFixed(2)}`,
        )
      }
    }

    // ---- 2. cache hits at concurrency 256 ---------------------------------------------------
    const pairs: { label: string; vault: ConstitutionalTokenVault; append: Log }[] = [
      { label: 'memory:', vault: vaultOn(await open('memory:'), true), append: await open('memory:') },
      {
        label: 'SQLite FULL',
        vault: vaultOn(await open(`sqlite:${join(dir, 'hit-full.db')}`), true),
        append: await open(`sqlite:${join(dir, 'hit-append-full.db')}`),
      },
    ]
    const hitNormal = await normal('hit-normal.db')
    const appendNormal = await normal('hit-append-normal.db')
    if (hitNormal && appendNormal)
      pairs.push({ label: 'SQLite NORMAL', vault: vaultOn(hitNormal, true), append: appendNormal })
    for (const p of pairs) await p.vault.exchange(REQUEST) // fills the cache
    // The vault alone: an audit log that takes the entry and resolves at once (never do this
    // outside a benchmark: nothing is recorded).
    const nothing = { append: (e: AuditEntryInput) => Promise.resolve(e as never) }
    const alone = new ConstitutionalTokenVault({ policy, audit: nothing, auth0, env: {} })
    await alone.exchange(REQUEST)
    const variants: Variant[] = [
      ...pairs.flatMap((p) => [
        { name: `baseline: audit.append() alone, ${p.label}`, fn: () => p.append.append(entry) },
        { name: `vault.exchange() cache hit, ${p.label} audit`, fn: () => p.vault.exchange(REQUEST) },
      ]),
      { name: 'vault.exchange() cache hit, audit that records nothing', fn: () => alone.exchange(REQUEST) },
    ]
    const { best: results } = await interleaved(
      variants,
      { total: 40_000, concurrency: 256, warmup: 1_000 },
      2,
    )
    table(
      'cache-hit exchange() vs audit.append() alone, concurrency 256',
      variants.map((v, i) =>
        row(v.name, results[i] as Result, { 'µs/op': (1e6 / (results[i] as Result).throughput).toFixed(2) }),
      ),
    )
    pairs.forEach((p, i) => {
      const append = results[2 * i] as Result
      const hit = results[2 * i + 1] as Result
      const met = hit.throughput >= 20_000
      console.log(
        `cache-hit throughput, ${p.label} audit: ${Math.round(hit.throughput)}/s (target >= 20000/s) ${met ? 'MET' : 'NOT MET'}; ` +
          `${(hit.throughput / append.throughput).toFixed(2)}× append() alone`,
      )
    })
    const memAppend = results[0] as Result
    const memHit = results[1] as Result
    const own = results[results.length - 1] as Result
    console.log(
      `the vault's own cost per cache hit: ${(1e6 / own.throughput).toFixed(2)} µs with an audit log that records nothing; ` +
        `${(1e6 / memHit.throughput - 1e6 / memAppend.throughput).toFixed(2)} µs as (memory: hit − memory: append) per operation`,
    )

    if (!emulator.requests.some((r) => r.path === '/oauth/token')) throw new Error('the emulator saw nothing')
  } finally {
    for (const log of logs) await log.close()
    await emulator.close()
    await rm(dir, { recursive: true, force: true })
  }
}
