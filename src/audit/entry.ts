import { hash as oneShotHash } from 'node:crypto'
import { canonicalJson, sha256Hex } from '../lib/canonical.js'
import type { DecisionReason } from '../policy/types.js'
import type { AuditEntryInput, AuditOutcome, TokenAccessAuditEntry } from './types.js'

/** `prevHash` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64)

/** Longest free-text value kept, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 1024

/** Appended to a free-text value that was cut to {@link MAX_TEXT_BYTES}. */
export const TRUNCATION_MARK = '…[truncated]'

/** Every outcome an entry may record (DESIGN §8). */
export const AUDIT_OUTCOMES: ReadonlySet<AuditOutcome> = new Set<AuditOutcome>([
  'granted',
  'denied_scope_violation',
  'denied_role_not_permitted',
  'denied_agent_role',
  'denied_invalid_request',
  'denied_excess_scopes',
  'denied_rate_limited',
  'shadow_denied',
  'step_up_initiated',
  'step_up_approved',
  'step_up_denied',
  'step_up_expired',
  'error',
])

const INPUT_KEYS = new Set([
  'outcome',
  'agentId',
  'role',
  'connection',
  'toolName',
  'userId',
  'requestedScopes',
  'grantedScopes',
  'deniedScopes',
  'stepUpScopes',
  'excessScopes',
  'reasons',
  'cached',
  'approver',
  'errorCode',
  'constitutionalHash',
  'policyDigest',
  'tokenFingerprint',
  'stepUpId',
])

/** The keys of a stored entry, in JCS (UTF-16 code unit) order. */
export const ENTRY_KEYS: readonly string[] = [
  'agentId',
  'approver',
  'cached',
  'connection',
  'constitutionalHash',
  'deniedScopes',
  'errorCode',
  'excessScopes',
  'grantedScopes',
  'hash',
  'id',
  'outcome',
  'policyDigest',
  'prevHash',
  'reasons',
  'requestedScopes',
  'role',
  'seq',
  'stepUpId',
  'stepUpScopes',
  'timestamp',
  'tokenFingerprint',
  'toolName',
  'userId',
]

/** The input fields after normalization: what the log stores besides the fields it fills in. */
export type NormalizedInput = Omit<TokenAccessAuditEntry, 'seq' | 'id' | 'timestamp' | 'prevHash' | 'hash'>

/**
 * Bounds a free-text value to {@link MAX_TEXT_BYTES} UTF-8 bytes. A longer value is cut on a code
 * point boundary and ends with {@link TRUNCATION_MARK}. Control characters stay as data: JSON
 * escapes them, so a value can never break a JSONL line or forge a field.
 */
export function boundText(value: string): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes.
  if (value.length * 3 <= MAX_TEXT_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_TEXT_BYTES) return value
  const budget = MAX_TEXT_BYTES - Buffer.byteLength(TRUNCATION_MARK, 'utf8')
  let bytes = 0
  let end = 0
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
    if (bytes + size > budget) break
    bytes += size
    end += ch.length
  }
  return value.slice(0, end) + TRUNCATION_MARK
}

function fail(message: string): never {
  throw new TypeError(`audit entry: ${message}`)
}

function refuseUnknownKeys(value: object, known: ReadonlySet<string>, where: string): void {
  for (const key in value) {
    // Fail closed: a field the log does not know (an access token, say) is never stored.
    if (
      !known.has(key) &&
      Object.hasOwn(value, key) &&
      (value as Record<string, unknown>)[key] !== undefined
    ) {
      fail(`unknown field "${boundText(key).slice(0, 64)}" in ${where}`)
    }
  }
}

function requiredText(value: unknown, name: string): string {
  if (typeof value !== 'string') fail(`${name} must be a string`)
  return boundText(value)
}

function optionalText(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null
  return requiredText(value, name)
}

function textList(value: unknown, name: string): string[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) fail(`${name} must be an array of strings`)
  return value.map((item, i) => requiredText(item, `${name}[${i}]`))
}

const REASON_KEYS = new Set(['code', 'message', 'scope'])
const APPROVER_KEYS = new Set(['id', 'role'])

function reasonList(value: unknown): DecisionReason[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) fail('reasons must be an array')
  return value.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null) fail(`reasons[${i}] must be an object`)
    refuseUnknownKeys(item, REASON_KEYS, `reasons[${i}]`)
    const r = item as Record<string, unknown>
    // Keys in JCS order: code, message, scope.
    const out: DecisionReason = {
      code: requiredText(r.code, `reasons[${i}].code`) as DecisionReason['code'],
      message: requiredText(r.message, `reasons[${i}].message`),
    }
    if (r.scope !== undefined && r.scope !== null) out.scope = requiredText(r.scope, `reasons[${i}].scope`)
    return out
  })
}

/**
 * Checks and normalizes what `append()` was given: unknown fields are refused (`TypeError`),
 * optional fields become null / [] / false, free text is bounded.
 */
export function normalizeInput(input: AuditEntryInput): NormalizedInput {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('must be an object')
  refuseUnknownKeys(input, INPUT_KEYS, 'the entry')
  // The value is not echoed: whatever a caller put there stays out of messages and logs.
  if (!AUDIT_OUTCOMES.has(input.outcome)) fail(`outcome must be one of ${[...AUDIT_OUTCOMES].join(', ')}`)
  if (input.cached !== undefined && typeof input.cached !== 'boolean') fail('cached must be a boolean')
  let approver: NormalizedInput['approver'] = null
  if (input.approver !== undefined && input.approver !== null) {
    if (typeof input.approver !== 'object') fail('approver must be an object or null')
    refuseUnknownKeys(input.approver, APPROVER_KEYS, 'approver')
    approver = {
      id: requiredText(input.approver.id, 'approver.id'),
      role: optionalText(input.approver.role, 'approver.role'),
    }
  }
  return {
    agentId: requiredText(input.agentId, 'agentId'),
    approver,
    cached: input.cached ?? false,
    connection: requiredText(input.connection, 'connection'),
    constitutionalHash: requiredText(input.constitutionalHash, 'constitutionalHash'),
    deniedScopes: textList(input.deniedScopes, 'deniedScopes'),
    errorCode: optionalText(input.errorCode, 'errorCode'),
    excessScopes: textList(input.excessScopes, 'excessScopes'),
    grantedScopes: textList(input.grantedScopes, 'grantedScopes'),
    outcome: input.outcome,
    policyDigest: requiredText(input.policyDigest, 'policyDigest'),
    reasons: reasonList(input.reasons),
    requestedScopes: textList(input.requestedScopes, 'requestedScopes'),
    role: requiredText(input.role, 'role'),
    stepUpId: optionalText(input.stepUpId, 'stepUpId'),
    stepUpScopes: textList(input.stepUpScopes, 'stepUpScopes'),
    tokenFingerprint: optionalText(input.tokenFingerprint, 'tokenFingerprint'),
    toolName: optionalText(input.toolName, 'toolName'),
    userId: optionalText(input.userId, 'userId'),
  }
}

/** An entry ready to be stored: the object, its JCS without `hash`, and its hash. */
export interface SealedEntry {
  entry: TokenAccessAuditEntry
  /** JCS of the entry without `hash`: exactly what was hashed after `prevHash`. */
  body: string
}

/**
 * Fills in the log's fields and seals the entry into the chain.
 *
 * Every object is built with its keys already in JCS order, and the only number is an integer,
 * so `JSON.stringify` yields the JCS text (tested against `canonicalJson`) without the cost of a
 * generic canonicalizer on the append path.
 */
export function sealEntry(
  fields: NormalizedInput,
  seq: number,
  id: string,
  timestamp: string,
  prevHash: string,
): SealedEntry {
  const unsealed = {
    agentId: fields.agentId,
    approver: fields.approver,
    cached: fields.cached,
    connection: fields.connection,
    constitutionalHash: fields.constitutionalHash,
    deniedScopes: fields.deniedScopes,
    errorCode: fields.errorCode,
    excessScopes: fields.excessScopes,
    grantedScopes: fields.grantedScopes,
    id,
    outcome: fields.outcome,
    policyDigest: fields.policyDigest,
    prevHash,
    reasons: fields.reasons,
    requestedScopes: fields.requestedScopes,
    role: fields.role,
    seq,
    stepUpId: fields.stepUpId,
    stepUpScopes: fields.stepUpScopes,
    timestamp,
    tokenFingerprint: fields.tokenFingerprint,
    toolName: fields.toolName,
    userId: fields.userId,
  }
  const body = JSON.stringify(unsealed)
  const hash = chainHash(prevHash, body)
  const entry: TokenAccessAuditEntry = {
    agentId: fields.agentId,
    approver: fields.approver,
    cached: fields.cached,
    connection: fields.connection,
    constitutionalHash: fields.constitutionalHash,
    deniedScopes: fields.deniedScopes,
    errorCode: fields.errorCode,
    excessScopes: fields.excessScopes,
    grantedScopes: fields.grantedScopes,
    hash,
    id,
    outcome: fields.outcome,
    policyDigest: fields.policyDigest,
    prevHash,
    reasons: fields.reasons,
    requestedScopes: fields.requestedScopes,
    role: fields.role,
    seq,
    stepUpId: fields.stepUpId,
    stepUpScopes: fields.stepUpScopes,
    timestamp,
    tokenFingerprint: fields.tokenFingerprint,
    toolName: fields.toolName,
    userId: fields.userId,
  }
  return { entry: freezeEntry(entry), body }
}

/** The JCS text of a whole entry (with `hash`): `body` with the hash spliced in at its key. */
export function entryLine(sealed: SealedEntry): string {
  const at = sealed.body.indexOf(',"id":"', sealed.body.indexOf('"grantedScopes":'))
  return `${sealed.body.slice(0, at)},"hash":"${sealed.entry.hash}"${sealed.body.slice(at)}`
}

const HASH_FIELD = ',"hash":"'

/**
 * Splits a stored JCS line into the hashed body and the stored hash, or null when the line has
 * no hash field where JCS puts it. In JSON text an unescaped quote always delimits a string, and
 * only the top level of an entry has a `hash` key, so the first match is the field.
 */
export function splitLine(line: string): { body: string; hash: string } | null {
  const at = line.indexOf(HASH_FIELD)
  if (at < 0 || line.charCodeAt(at + 73) !== 34 /* " */) return null
  return { body: line.slice(0, at) + line.slice(at + 74), hash: line.slice(at + 9, at + 73) }
}

/** SHA-256 of `prevHash ‖ body`, the chain link. Same value as `sha256Hex(prevHash + body)`. */
export const chainHash: (prevHash: string, body: string) => string =
  typeof oneShotHash === 'function'
    ? (prevHash, body) => oneShotHash('sha256', prevHash + body, 'hex')
    : (prevHash, body) => sha256Hex(prevHash + body)

/** The JCS of an entry object without its `hash` (for entries held as objects). */
export function bodyOf(entry: TokenAccessAuditEntry): string {
  const { hash: _hash, ...rest } = entry
  return canonicalJson(rest)
}

const HEX64 = /^[0-9a-f]{64}$/

/**
 * Strict check of one stored entry: the exact schema, and the stored text is the JCS of what it
 * parses to. Returns a problem description, or null when the entry is well formed.
 */
export function checkWellFormed(body: string, hash: string): string | null {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return 'the entry is not valid JSON'
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'the entry is not an object'
  const e = parsed as Record<string, unknown>
  const keys = Object.keys(e)
  const expected = ENTRY_KEYS.filter((k) => k !== 'hash')
  if (keys.length !== expected.length || keys.some((k, i) => k !== expected[i])) {
    return 'the entry does not have exactly the fields of an audit entry'
  }
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) return 'seq is not a positive integer'
  if (typeof e.prevHash !== 'string' || !HEX64.test(e.prevHash) || !HEX64.test(hash)) {
    return 'prevHash or hash is not 64 lower-case hex digits'
  }
  if (!AUDIT_OUTCOMES.has(e.outcome as AuditOutcome)) return 'unknown outcome'
  if (canonicalJson(e) !== body) return 'the stored text is not the canonical (JCS) form of the entry'
  if (sha256Hex(e.prevHash + body) !== hash) return 'the hash does not match the entry'
  return null
}

/** Parses a stored body and attaches the stored hash. */
export function parseStored(body: string, hash: string): TokenAccessAuditEntry {
  const e = JSON.parse(body) as Omit<TokenAccessAuditEntry, 'hash'>
  return { ...e, hash }
}

function freezeEntry(e: TokenAccessAuditEntry): TokenAccessAuditEntry {
  Object.freeze(e.requestedScopes)
  Object.freeze(e.grantedScopes)
  Object.freeze(e.deniedScopes)
  Object.freeze(e.stepUpScopes)
  Object.freeze(e.excessScopes)
  for (const r of e.reasons) Object.freeze(r)
  Object.freeze(e.reasons)
  if (e.approver) Object.freeze(e.approver)
  return Object.freeze(e)
}

/** Extracts `seq` from a stored text without trusting its structure; NaN when absent. */
export function seqOf(text: string): number {
  const m = /"seq":(\d{1,15}),"stepUpId"/.exec(text)
  return m?.[1] ? Number(m[1]) : Number.NaN
}
