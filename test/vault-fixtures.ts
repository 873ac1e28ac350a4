/** Shared set-up of the vault end-to-end tests: a constitution, the emulator, a real audit log. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { type TokenAccessAuditEntry, TokenAuditLog } from '../src/audit/index.js'
import {
  type EmulatorOptions,
  startTokenVaultEmulator,
  type TokenVaultEmulator,
} from '../src/emulator/index.js'
import {
  ConstitutionalTokenVault,
  type ConstitutionalTokenVaultOptions,
  MACIScopePolicy,
} from '../src/index.js'

export const HASH = '608508a9bd224290'
export const CLIENT = { clientId: 'vault-tests', clientSecret: 'cs_vault_tests_0123456789abcdef' }
export const RT_ALICE = 'rt_alice_5f1e2d3c4b5a69788796a5b4'
export const RT_BOB = 'rt_bob_0a1b2c3d4e5f60718293a4b5'
export const AT_ALICE = 'at_alice_subject_99887766554433'
export const ALICE = 'auth0|alice'

export function constitution(
  overrides: { mode?: 'enforce' | 'shadow'; excess?: 'deny' | 'audit' } = {},
): string {
  return `
token_vault:
  constitutional_hash: "${HASH}"
  mode: ${overrides.mode ?? 'enforce'}
  excess_scopes: ${overrides.excess ?? 'deny'}
  agents:
    planner: [EXECUTIVE]
    builder: [IMPLEMENTER]
    judge: [JUDICIAL]
  step_up:
    approvers: [JUDICIAL]
    timeout_seconds: 300
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
        high_risk_scopes: []
      IMPLEMENTER:
        permitted_scopes: ["read:user", "repo:read", "repo:write", "delete_repo"]
        high_risk_scopes: ["repo:write", "delete_repo"]
    slack:
      EXECUTIVE:
        permitted_scopes: ["chat:read"]
        high_risk_scopes: []
        rate_limit: { max: 2, per_seconds: 60 }
`
}

export function emulatorOptions(extra: Partial<EmulatorOptions> = {}): EmulatorOptions {
  return {
    clients: [CLIENT],
    users: [
      {
        userId: ALICE,
        refreshToken: RT_ALICE,
        accessToken: AT_ALICE,
        connections: {
          github: ['read:user', 'repo:read', 'repo:write', 'delete_repo'],
          slack: ['chat:read'],
        },
        accounts: { github: { 'alice-work': ['read:user', 'repo:read'] } },
      },
      { userId: 'auth0|bob', refreshToken: RT_BOB, connections: { github: ['read:user', 'repo:read'] } },
    ],
    ...extra,
  }
}

export interface Harness {
  emulator: TokenVaultEmulator
  audit: TokenAuditLog
  policy: MACIScopePolicy
  vault: ConstitutionalTokenVault
  dir: string
  /** Every audit entry, oldest first. */
  entries(): Promise<TokenAccessAuditEntry[]>
  /** Requests the emulator answered on its token endpoint. */
  tokenRequests(): TokenVaultEmulator['requests']
  close(): Promise<void>
}

export interface HarnessOptions {
  store?: 'memory' | 'sqlite'
  yaml?: string
  emulator?: Partial<EmulatorOptions>
  vault?: Partial<ConstitutionalTokenVaultOptions>
}

export async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'acgs-vault-'))
  const emulator = await startTokenVaultEmulator(emulatorOptions(options.emulator))
  const audit = await TokenAuditLog.open(
    options.store === 'sqlite' ? `sqlite:${join(dir, 'audit.db')}` : 'memory:',
  )
  const policy = MACIScopePolicy.fromYamlString(options.yaml ?? constitution(), 'constitution.yaml')
  const vault = new ConstitutionalTokenVault({
    policy,
    audit,
    env: {},
    auth0: { domain: emulator.url, ...CLIENT },
    client: { retryBaseDelayMs: 1, retryMaxDelayMs: 5, timeoutMs: 5_000 },
    ...options.vault,
  })
  return {
    emulator,
    audit,
    policy,
    vault,
    dir,
    entries: () => audit.query(),
    tokenRequests: () => emulator.requests.filter((r) => r.path === '/oauth/token'),
    async close() {
      await emulator.close()
      await audit.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Fails when any entry holds a subject token, the client secret, or one of `tokens`. */
export function expectNoSecrets(entries: readonly unknown[], tokens: readonly string[] = []): void {
  const text = JSON.stringify(entries)
  for (const secret of [RT_ALICE, RT_BOB, AT_ALICE, CLIENT.clientSecret, ...tokens]) {
    expect(text).not.toContain(secret)
  }
}

/** The request of a planner reading a repository, as alice. */
export const read = {
  agentId: 'planner',
  role: 'EXECUTIVE',
  connection: 'github',
  scopes: ['repo:read'],
  refreshToken: RT_ALICE,
  userId: ALICE,
  toolName: 'list_issues',
} as const

/** The request of a builder pushing to a repository (high-risk), as alice. */
export const write = {
  agentId: 'builder',
  role: 'IMPLEMENTER',
  connection: 'github',
  scopes: ['repo:write'],
  refreshToken: RT_ALICE,
  userId: ALICE,
  toolName: 'push',
} as const

/** Awaits `p` expecting a rejection, and returns the error. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a rejection')
}
