import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AuditEntryInput } from '../../src/audit/index.js'

/** A realistic entry input; `i` varies the agent so that queries have something to filter. */
export function sampleInput(i: number, overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    outcome: i % 5 === 0 ? 'denied_scope_violation' : 'granted',
    agentId: `agent-${i}`,
    role: 'EXECUTIVE',
    connection: i % 2 === 0 ? 'github' : 'google-oauth2',
    toolName: 'list_issues',
    requestedScopes: ['repo:read'],
    grantedScopes: i % 5 === 0 ? [] : ['repo:read'],
    deniedScopes: i % 5 === 0 ? ['repo:read'] : [],
    reasons: [{ code: 'permitted', message: `request ${i}` }],
    constitutionalHash: '0123456789abcdef',
    policyDigest: `sha256:${'ab'.repeat(32)}`,
    tokenFingerprint: 'tfp_0123456789abcdef01234567',
    ...overrides,
  }
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'acgs-audit-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}
