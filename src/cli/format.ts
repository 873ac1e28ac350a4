/** Plain-text formatting for the CLI: aligned columns, compiler-style issue lines, JSON views. */
import type { ConstitutionIssue } from '../errors.js'
import type { PolicyValidationResult } from '../policy/types.js'

/** `file:line:col: code: message`, the form editors and CI annotators understand. */
export function formatIssue(issue: ConstitutionIssue, severity?: 'warning'): string {
  const label = severity ? `${severity}: ` : ''
  return `${issue.source}:${issue.line}:${issue.column}: ${label}${issue.code}: ${issue.message}`
}

/** Pads every column but the last to the widest cell, joined by two spaces. */
export function columns(rows: readonly (readonly string[])[], indent = ''): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      `${indent}${row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ')}`.trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('')
}

/** The issue fields that go into JSON output. */
export function issueJson(issue: ConstitutionIssue): ConstitutionIssue {
  return {
    code: issue.code,
    message: issue.message,
    source: issue.source,
    line: issue.line,
    column: issue.column,
  }
}

/** A validation result as plain JSON: every field, with `error` as `{ code, message }` or null. */
export function resultJson(result: PolicyValidationResult): Record<string, unknown> {
  return {
    permitted: result.permitted,
    decision: result.decision,
    stepUpRequired: result.stepUpRequired,
    stepUpScopes: result.stepUpScopes,
    deniedScopes: result.deniedScopes,
    grantedScopes: result.grantedScopes,
    reasons: result.reasons.map((r) =>
      r.scope === undefined ? { code: r.code, message: r.message } : { ...r },
    ),
    error: result.error ? { code: result.error.code, message: result.error.message } : null,
    policyDigest: result.policyDigest,
    constitutionalHash: result.constitutionalHash,
    shadow: result.shadow,
  }
}

/** `a, b, c`, or a dash for nothing. */
export function list(items: readonly string[]): string {
  return items.length > 0 ? items.join(', ') : '-'
}
