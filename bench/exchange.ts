/**
 * The Token Vault exchange through `TokenVaultClient` (oauth4webapi request + processing, bounded
 * body read, success checks, redaction set-up, retry/timeout wrapper) against a bare `fetch` POST
 * of the same form to the same emulator, parsing the JSON answer. Sequential and at concurrency
 * 32, alternating subject and baseline over several rounds to even out noise.
 *
 * Target: client / bare ≤ 1.15 at the median latency. Every ratio row is client cost over bare
 * cost: median latency, time per operation (1 / throughput), and process CPU per operation (the
 * emulator runs in the same process, so CPU covers both sides; it is the figure least disturbed by
 * other load on the machine).
 */
import { resolveAuth0Config } from '../src/auth0/config.js'
import { TokenVaultClient } from '../src/auth0/token-vault-client.js'
import { startTokenVaultEmulator } from '../src/emulator/index.js'
import { fmtNs, measureAsync, ratio, table } from './harness.js'

const CLIENT = { clientId: 'bench-client', clientSecret: 'bench-client-secret' }
const USER = {
  userId: 'auth0|bench',
  refreshToken: 'rt_bench_0123456789',
  connections: { github: ['repo:read', 'read:user', 'repo:write'] },
}
const GRANT = 'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token'
const ROUNDS = 5

/** measureAsync plus the process CPU time per operation (client and emulator together). */
async function measureWithCpu(
  fn: (i: number) => Promise<unknown>,
  opts: { total: number; concurrency: number; warmup: number },
) {
  const before = process.cpuUsage()
  const sample = await measureAsync(fn, opts)
  const cpu = process.cpuUsage(before)
  return { ...sample, cpuNsPerOp: ((cpu.user + cpu.system) * 1000) / (opts.total + opts.warmup) }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

export async function run(): Promise<void> {
  const emu = await startTokenVaultEmulator({ clients: [CLIENT], users: [USER] })
  try {
    const config = resolveAuth0Config({ domain: emu.url, ...CLIENT }, {})
    const client = new TokenVaultClient(config, { maxRetries: 0 })
    const params = {
      subjectToken: USER.refreshToken,
      subjectTokenType: 'refresh_token',
      connection: 'github',
      scopes: ['repo:read', 'read:user'],
    } as const
    const viaClient = async () => {
      const r = await client.exchange(params)
      if (r.scope.length !== 2) throw new Error('unexpected answer')
    }
    const url = `${emu.url}/oauth/token`
    const bare = async () => {
      const body = new URLSearchParams({
        grant_type: GRANT,
        subject_token: USER.refreshToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
        requested_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
        connection: 'github',
        scope: 'repo:read read:user',
        client_id: CLIENT.clientId,
        client_secret: CLIENT.clientSecret,
      })
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: {
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
        },
      })
      const json = (await res.json()) as { access_token?: unknown }
      if (res.status !== 200 || typeof json.access_token !== 'string') throw new Error('unexpected answer')
    }

    const rows: Record<string, string | number>[] = []
    for (const concurrency of [1, 32]) {
      const total = concurrency === 1 ? 1_000 : 4_000
      const opts = { total, concurrency, warmup: 100 }
      const c: number[] = []
      const b: number[] = []
      const ct: number[] = []
      const bt: number[] = []
      const cc: number[] = []
      const bc: number[] = []
      for (let r = 0; r < ROUNDS; r++) {
        // alternate which goes first, so neither always runs on a warmer process
        const first = r % 2 === 0
        const s1 = await measureWithCpu(first ? viaClient : bare, opts)
        const s2 = await measureWithCpu(first ? bare : viaClient, opts)
        const [sc, sb] = first ? [s1, s2] : [s2, s1]
        c.push(sc.medianNs)
        b.push(sb.medianNs)
        ct.push(sc.throughput)
        bt.push(sb.throughput)
        cc.push(sc.cpuNsPerOp)
        bc.push(sb.cpuNsPerOp)
      }
      const cm = median(c)
      const bm = median(b)
      const cpuC = median(cc)
      const cpuB = median(bc)
      rows.push(
        {
          subject: 'TokenVaultClient.exchange',
          concurrency,
          'median latency': fmtNs(cm),
          'throughput /s': Math.round(median(ct)),
          'cpu /op (both sides)': fmtNs(cpuC),
        },
        {
          subject: 'bare fetch + json',
          concurrency,
          'median latency': fmtNs(bm),
          'throughput /s': Math.round(median(bt)),
          'cpu /op (both sides)': fmtNs(cpuB),
        },
        {
          subject: 'ratio client/bare',
          concurrency,
          'median latency': (cm / bm).toFixed(3),
          'throughput /s': (median(bt) / median(ct)).toFixed(3),
          'cpu /op (both sides)': (cpuC / cpuB).toFixed(3),
        },
      )
      ratio(`exchange client/bare median, concurrency ${concurrency}`, cm / bm, '≤ 1.15', cm / bm <= 1.15)
    }
    table(`Token Vault exchange against the emulator (${ROUNDS} alternating rounds, median of medians)`, rows)
  } finally {
    await emu.close()
  }
}
