import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, sha256Hex } from '../lib/canonical.js'
import {
  bodyOf,
  boundText,
  chainHash,
  ENTRY_KEYS,
  entryLine,
  MAX_TEXT_BYTES,
  normalizeInput,
  sealEntry,
  splitLine,
  TRUNCATION_MARK,
} from './entry.js'
import type { AuditEntryInput, AuditOutcome } from './types.js'

const text = fc.string({ unit: 'binary', maxLength: 40 })
const outcomes: AuditOutcome[] = ['granted', 'step_up_approved', 'error', 'denied_excess_scopes']

const input = fc.record(
  {
    outcome: fc.constantFrom(...outcomes),
    agentId: text,
    role: text,
    connection: text,
    toolName: fc.option(text, { nil: undefined }),
    userId: fc.option(text),
    requestedScopes: fc.array(text, { maxLength: 4 }),
    grantedScopes: fc.array(text, { maxLength: 4 }),
    reasons: fc.array(
      fc.record({
        code: fc.constant('permitted' as const),
        message: text,
        scope: fc.option(text, { nil: undefined }),
      }),
      { maxLength: 3 },
    ),
    cached: fc.boolean(),
    approver: fc.option(fc.record({ id: text, role: fc.option(text) })),
    constitutionalHash: text,
    policyDigest: text,
  },
  { requiredKeys: ['outcome', 'agentId', 'role', 'connection', 'constitutionalHash', 'policyDigest'] },
) as fc.Arbitrary<AuditEntryInput>

describe('sealEntry', () => {
  it('produces the JCS text (RFC 8785) of the entry, and hash = sha256(prevHash ‖ JCS)', () => {
    fc.assert(
      fc.property(input, fc.integer({ min: 1, max: 2 ** 40 }), (i, seq) => {
        const prev = 'a'.repeat(64)
        const sealed = sealEntry(normalizeInput(i), seq, 'id-1', '2026-01-01T00:00:00.000Z', prev)
        expect(sealed.body).toBe(bodyOf(sealed.entry))
        expect(sealed.entry.hash).toBe(sha256Hex(prev + sealed.body))
        expect(chainHash(prev, sealed.body)).toBe(sealed.entry.hash)
        const line = entryLine(sealed)
        expect(line).toBe(canonicalJson(sealed.entry))
        expect(splitLine(line)).toEqual({ body: sealed.body, hash: sealed.entry.hash })
        expect(line).not.toContain('\n')
      }),
      { numRuns: 300 },
    )
  })

  it('lists the entry keys in JCS order', () => {
    expect([...ENTRY_KEYS].sort()).toEqual(ENTRY_KEYS)
  })
})

describe('boundText', () => {
  it('keeps short text and cuts long text to 1 KiB on a code point boundary, marked', () => {
    expect(boundText('x'.repeat(MAX_TEXT_BYTES))).toBe('x'.repeat(MAX_TEXT_BYTES))
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 300, maxLength: 3000 }), (s) => {
        const out = boundText(s)
        expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(MAX_TEXT_BYTES)
        if (out !== s && !s.includes('\uFFFD')) {
          expect(out.endsWith(TRUNCATION_MARK)).toBe(true)
          expect(s.startsWith(out.slice(0, -TRUNCATION_MARK.length))).toBe(true)
          expect(out).not.toContain('\uFFFD')
        }
      }),
    )
    const emoji = '😀'.repeat(400)
    expect(boundText(emoji).slice(0, -TRUNCATION_MARK.length)).toBe('😀'.repeat(252))
  })
})
