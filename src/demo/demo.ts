import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { startTokenVaultEmulator, type TokenVaultEmulator } from '../emulator/index.js'
import {
  ConstitutionalTokenVault,
  MACIScopePolicy,
  PendingApprovals,
  StepUpAuthRequiredError,
  TokenAuditLog,
  type TokenVaultGovernanceError,
  type TokenVaultRequest,
} from '../index.js'

/** One line of the demo's story, as it is printed in the summary table. */
export interface DemoStep {
  /** What the step shows, in a few words. */
  title: string
  agent: string
  role: string
  connection: string
  scopes: readonly string[]
  /** The audit outcome the step ended with (`granted`, `denied_scope_violation`, ...). */
  outcome: string
  /** Why, in one line. */
  reason: string
  /** True when the token came from the cache. */
  cached: boolean
  /** The package error code, when the step was refused. */
  errorCode: string | null
  /** The token's audit fingerprint, when a token was released. */
  tokenFingerprint: string | null
}

/** What `runDemo` returns (and `acgs-auth0 demo --json` prints). */
export interface DemoReport {
  ok: boolean
  constitution: string
  policyDigest: string
  constitutionalHash: string
  audit: { url: string; entries: number; verified: boolean; head: { seq: number; hash: string } }
  checkpoint: { file: string; publicKeyFile: string; seq: number; hash: string } | null
  emulator: { url: string; upstreamRequests: number }
  steps: DemoStep[]
  outcomes: Record<string, number>
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The audit store URL (DESIGN §8); a bare path means SQLite. @defaultValue `'sqlite:./acgs-audit.db'` */
  audit?: string | undefined
  /** The constitution to load. @defaultValue the package's `examples/constitution.yaml` */
  constitution?: string | undefined
  /** The constitution, already loaded (from `constitution`, which then only names it). */
  policy?: MACIScopePolicy | undefined
  /** Where to write the signed checkpoint and its public key; `null` skips the checkpoint. @defaultValue next to a file-based audit store */
  checkpointPrefix?: string | null | undefined
  /** Called with each progress line. @defaultValue no output */
  progress?: ((line: string) => void) | undefined
  /** Aborts the story between steps (the emulator and the log are still closed). */
  signal?: AbortSignal | undefined
}

/** The constitution shipped with the package. */
export function defaultConstitutionPath(): string {
  return fileURLToPath(new URL('../../examples/constitution.yaml', import.meta.url))
}

/** Turns a CLI store argument into an audit URL: a bare path means SQLite. */
export function toAuditUrl(store: string): string {
  return /^(memory|jsonl|sqlite):/.test(store) ? store : `sqlite:${store}`
}

function storePath(url: string): string | null {
  const m = /^(?:jsonl|sqlite):(.+)$/.exec(url)
  return m?.[1] ?? null
}

const USER_ID = 'auth0|demo-user'

/**
 * Runs the demo story against a local emulator through the public API only: a planner reads
 * issues, is refused a write; a builder's write needs a step-up that it may not approve itself
 * and a reviewer approves; the repeat is served from the cache; a monitor is refused
 * `delete_repo`; an agent claiming a role it was not assigned is refused. Then the audit chain
 * is verified and a signed checkpoint written.
 *
 * @example
 * ```ts
 * const report = await runDemo({ audit: 'sqlite:./acgs-audit.db', progress: console.log })
 * console.table(report.steps)
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const progress = options.progress ?? (() => {})
  const auditUrl = toAuditUrl(options.audit ?? 'sqlite:./acgs-audit.db')
  const constitutionPath = options.constitution ?? defaultConstitutionPath()
  const signal = options.signal

  const policy = options.policy ?? (await MACIScopePolicy.fromYaml(constitutionPath))
  progress(
    `constitution ${constitutionPath}: ${policy.connections.length} connections, digest ${policy.policyDigest}`,
  )

  // Fresh secrets for every run: nothing here is a real credential.
  const clientSecret = `demo-secret-${randomBytes(12).toString('hex')}`
  const refreshToken = `demo-rt-${randomBytes(12).toString('hex')}`
  let emulator: TokenVaultEmulator | undefined
  let audit: TokenAuditLog | undefined
  try {
    emulator = await startTokenVaultEmulator({
      port: 0,
      clients: [{ clientId: 'acgs-demo', clientSecret }],
      users: [
        {
          userId: USER_ID,
          refreshToken,
          connections: {
            github: ['read:user', 'repo:read', 'repo:write', 'delete_repo'],
            slack: ['channels:read', 'chat:write'],
          },
        },
      ],
    })
    progress(`Auth0 emulator listening on ${emulator.url}`)
    audit = await TokenAuditLog.open(auditUrl)
    progress(`audit log ${auditUrl}`)

    const approvals = new PendingApprovals()
    const vault = new ConstitutionalTokenVault({
      policy,
      audit,
      auth0: { domain: emulator.url, clientId: 'acgs-demo', clientSecret },
      stepUp: { approver: approvals, mode: 'interrupt' },
      env: {},
    })

    const steps: DemoStep[] = []
    const base = { refreshToken, userId: USER_ID }
    const record = async (title: string, request: TokenVaultRequest, resume?: () => void): Promise<void> => {
      signal?.throwIfAborted()
      const step: DemoStep = {
        title,
        agent: request.agentId,
        role: request.role,
        connection: request.connection,
        scopes: request.scopes,
        outcome: 'granted',
        reason: '',
        cached: false,
        errorCode: null,
        tokenFingerprint: null,
      }
      try {
        const res = await vault.exchange(request)
        step.cached = res.cached
        step.reason = res.cached
          ? 'served from the token cache, audited again'
          : `token scopes: ${res.scope.join(' ')}`
      } catch (err) {
        const e = err as TokenVaultGovernanceError
        step.errorCode = e.code ?? 'ERR_UNKNOWN'
        step.reason = e.message
        step.outcome = 'refused'
        if (err instanceof StepUpAuthRequiredError && resume) {
          step.outcome = 'step_up_initiated'
          steps.push(step)
          progress(line(step))
          resume()
          return
        }
      }
      const [entry] = await audit!.query({ agentId: request.agentId, limit: 1 })
      if (entry) {
        step.outcome = entry.outcome
        step.tokenFingerprint = entry.tokenFingerprint
        step.cached = entry.cached
      }
      steps.push(step)
      progress(line(step))
    }

    const planner = { ...base, agentId: 'planner', role: 'EXECUTIVE', connection: 'github' }
    await record('planner reads issues', { ...planner, scopes: ['repo:read'], toolName: 'list_issues' })
    await record('planner tries to push', { ...planner, scopes: ['repo:write'], toolName: 'push_commit' })

    const builderRequest: TokenVaultRequest = {
      ...base,
      agentId: 'builder',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
      toolName: 'push_commit',
    }
    const stepUp = async (title: string, approver: { id: string; role: string }): Promise<void> => {
      let stepUpId: string | undefined
      await record(title, builderRequest, () => {
        const waiting = approvals.list().find((p) => p.request.agentId === 'builder')
        stepUpId = waiting?.id
        if (stepUpId) approvals.approve(stepUpId, approver)
      })
      if (stepUpId) {
        await record(`${approver.id} (${approver.role}) approved`, { ...builderRequest, stepUpId })
      }
    }
    await stepUp('builder pushes, approves itself', { id: 'builder', role: 'IMPLEMENTER' })
    await stepUp('builder pushes again', { id: 'reviewer', role: 'JUDICIAL' })
    await stepUp('builder repeats the push', { id: 'reviewer', role: 'JUDICIAL' })

    await record('monitor tries to delete a repo', {
      ...base,
      agentId: 'monitor',
      role: 'MONITOR',
      connection: 'github',
      scopes: ['delete_repo'],
      toolName: 'delete_repo',
    })
    await record('planner claims IMPLEMENTER', {
      ...base,
      agentId: 'planner',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
      toolName: 'push_commit',
    })

    const verified = await audit.verify()
    progress(
      `audit chain: ${verified.ok ? 'verified' : `BROKEN at seq ${verified.firstBadSeq}`} (${verified.entries} entries)`,
    )

    let checkpoint: DemoReport['checkpoint'] = null
    const path = storePath(auditUrl)
    const prefix = options.checkpointPrefix === undefined ? path : options.checkpointPrefix
    if (prefix) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      const signed = await audit.checkpoint(privateKey)
      const file = `${prefix}.checkpoint.json`
      const publicKeyFile = `${prefix}.pub.pem`
      await writeFile(file, `${JSON.stringify(signed, null, 2)}\n`)
      await writeFile(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }))
      checkpoint = { file, publicKeyFile, seq: signed.seq, hash: signed.hash }
      progress(`signed checkpoint at seq ${signed.seq} written to ${file} (public key ${publicKeyFile})`)
    }

    const outcomes: Record<string, number> = {}
    for (const e of await audit.query()) outcomes[e.outcome] = (outcomes[e.outcome] ?? 0) + 1

    return {
      ok: verified.ok,
      constitution: constitutionPath,
      policyDigest: policy.policyDigest,
      constitutionalHash: policy.constitutionalHash,
      audit: { url: auditUrl, entries: verified.entries, verified: verified.ok, head: verified.head },
      checkpoint,
      emulator: { url: emulator.url, upstreamRequests: emulator.requests.length },
      steps,
      outcomes,
    }
  } finally {
    await audit?.close()
    await emulator?.close()
  }
}

function line(step: DemoStep): string {
  const scopes = step.scopes.join(',')
  return `- ${step.title}: ${step.agent}/${step.role} ${step.connection} [${scopes}] -> ${step.outcome}${step.cached ? ' (cached)' : ''}`
}

/** Renders the report's steps as an aligned text table. */
export function formatDemoTable(report: DemoReport): string {
  const header = ['agent', 'role', 'connection', 'scopes', 'outcome', 'reason']
  const rows = report.steps.map((s) => [
    s.agent,
    s.role,
    s.connection,
    s.scopes.join(' '),
    s.cached ? `${s.outcome} (cached)` : s.outcome,
    s.reason.length > 100 ? `${s.reason.slice(0, 97)}...` : s.reason,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n')
}
