/**
 * The structure of a constitution (DESIGN §2) as a zod schema. Names and cross-references
 * (role names, connection names, agents bound to defined roles, high-risk ⊆ permitted) are
 * checked in `check.ts`, which also runs when the structure is partly wrong, so that every
 * problem is reported at once.
 */
import { z } from 'zod'
import { isValidScope, quote } from './names.js'

const HASH = /^[0-9a-f]{16}$/

const scope = z.string().refine(isValidScope, {
  params: { code: 'invalid_scope' },
  error: (issue) =>
    `invalid scope ${quote(String(issue.input))}: expected 1 or more characters from RFC 6749 §3.3 (printable ASCII except space, '"' and '\\')`,
})

const positiveInt = z.int().positive()

export const RULE_KEYS = ['permitted_scopes', 'high_risk_scopes', 'rate_limit'] as const
export const RATE_LIMIT_KEYS = ['max', 'per_seconds'] as const
export const STEP_UP_KEYS = ['approvers', 'timeout_seconds'] as const
export const BODY_KEYS = [
  'constitutional_hash',
  'mode',
  'excess_scopes',
  'agents',
  'step_up',
  'connections',
] as const

const rule = z.strictObject({
  permitted_scopes: z.array(scope),
  high_risk_scopes: z.array(scope).optional(),
  rate_limit: z
    .strictObject({
      max: positiveInt,
      per_seconds: positiveInt,
    })
    .optional(),
})

/** The body of a constitution: the mapping under `token_vault:` or at the root. */
export const constitutionBody = z.strictObject({
  constitutional_hash: z.string().refine((value) => HASH.test(value), {
    params: { code: 'invalid_hash' },
    error: (issue) =>
      `invalid constitutional_hash ${quote(String(issue.input))}: expected exactly 16 lowercase hex digits, quoted (for example "608508a9bd224290")`,
  }),
  mode: z.enum(['enforce', 'shadow']).optional(),
  excess_scopes: z.enum(['deny', 'audit']).optional(),
  agents: z.record(z.string(), z.array(z.string())).optional(),
  step_up: z
    .strictObject({
      approvers: z.array(z.string()).optional(),
      timeout_seconds: positiveInt.optional(),
    })
    .optional(),
  connections: z.record(z.string(), z.record(z.string(), rule)),
})

/** What the schema produces when the structure is right. */
export type ConstitutionBody = z.output<typeof constitutionBody>
