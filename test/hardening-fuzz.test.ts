/**
 * Fuzzing with fast-check.
 *
 * Hostile upstream answers (random statuses, headers, bodies, truncated JSON, huge bodies, wrong
 * types, bodies that never end) through the client's injectable `fetch`: `TokenVaultClient` and
 * the vault only ever throw the package's own errors, release a token only for a valid answer,
 * and give up at their timeout.
 *
 * Hostile constitutions (deep nesting, huge scope lists, confusable letters, NUL bytes, YAML-ish
 * noise, alias bombs): `MACIScopePolicy.fromYamlString` loads or throws `ConstitutionError` with
 * well-formed issues, nothing else.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ConstitutionalTokenVault,
  ConstitutionError,
  MACIScopePolicy,
  resolveAuth0Config,
  TokenAuditLog,
  TokenVaultClient,
  type TokenVaultExchangeResult,
  TokenVaultGovernanceError,
} from '../src/index.js'

// Reproduce a run with FUZZ_SEED=<seed> (printed on failure by fast-check).
if (process.env.FUZZ_SEED) fc.configureGlobal({ seed: Number(process.env.FUZZ_SEED) })

const ORIGIN = 'http://127.0.0.1:9' // never contacted: every request goes to the injected fetch
const SECRET = 'fuzz-client-secret-5a4b3c2d1e0f'
const RT = 'fuzz-refresh-token-0f1e2d3c4b5a'
const FEDERATED = 'http://auth0.com/oauth/token-type/federated-connection-access-token'
const TIMEOUT_MS = 150
/** A hang is anything that outlives the timeout by this much (generous: the machine is shared). */
const HANG_GUARD_MS = 10_000

// ---- hostile answers -------------------------------------------------------------------------

type Body =
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'text'; text: string }
  | { kind: 'json'; value: unknown }
  | { kind: 'truncated'; text: string }
  | { kind: 'nested'; depth: number }
  | { kind: 'never-ends'; first: string }
  | { kind: 'empty' }

interface Answer {
  status: number
  headers: Record<string, string>
  body: Body
  /** The fetch itself fails (reset) instead of answering. */
  reset: boolean
}

const validSuccess = fc.record({
  access_token: fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,64}$/),
  token_type: fc.constantFrom('Bearer', 'bearer', 'BEARER'),
  expires_in: fc.integer({ min: 0, max: 86_400 }),
  scope: fc.constantFrom('repo:read', 'read:user repo:read', undefined),
  issued_token_type: fc.constantFrom(FEDERATED, undefined),
})

const junk = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.string(),
  fc.double(),
  fc.constantFrom(null, true, [], {}, Number.NaN, -1, 1e308, '3600', 'Bearer', ''),
)

const successish = fc
  .tuple(
    validSuccess,
    fc.record(
      { access_token: junk, token_type: junk, expires_in: junk, scope: junk, issued_token_type: junk },
      { requiredKeys: [] },
    ),
  )
  .map(([ok, broken]) => ({ ...ok, ...broken }))

const errorBody = fc.record({ error: junk, error_description: junk, error_uri: junk }, { requiredKeys: [] })

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 3, arbitrary: validSuccess.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 3, arbitrary: successish.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 2, arbitrary: errorBody.map((value) => ({ kind: 'json' as const, value })) },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => ({ kind: 'json' as const, value })) },
  {
    weight: 2,
    arbitrary: fc.tuple(validSuccess, fc.nat()).map(([v, n]) => {
      const text = JSON.stringify(v)
      return { kind: 'truncated' as const, text: text.slice(0, n % text.length) }
    }),
  },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 256 }).map((text) => ({ kind: 'text' as const, text })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 100_000 }).map((depth) => ({ kind: 'nested' as const, depth })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  {
    weight: 1,
    arbitrary: fc.string({ maxLength: 32 }).map((first) => ({ kind: 'never-ends' as const, first })),
  },
)

const headerValue = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
  fc.integer({ min: -1_000_000, max: 10_000_000_000 }).map(String),
  fc.constantFrom(
    '0',
    '-1',
    'NaN',
    'Infinity',
    '1e999',
    'Wed, 21 Oct 2015 07:28:00 GMT',
    '99999999999999999999',
  ),
)

const answer: fc.Arbitrary<Answer> = fc.record({
  status: fc.oneof(
    { weight: 4, arbitrary: fc.constant(200) },
    { weight: 4, arbitrary: fc.constantFrom(400, 401, 403, 404, 429, 500, 502, 503, 504) },
    { weight: 2, arbitrary: fc.integer({ min: 200, max: 599 }) },
  ),
  headers: fc.record(
    {
      'content-type': fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'text/html',
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/jsonp',
        '',
      ),
      'retry-after': headerValue,
      'x-ratelimit-reset': headerValue,
      'cache-control': headerValue,
    },
    { requiredKeys: [] },
  ),
  body,
  reset: fc.boolean().map((b) => b && Math.random() < 0.2),
})

function bodyInit(b: Body, signal: AbortSignal | undefined): ConstructorParameters<typeof Response>[0] {
  switch (b.kind) {
    case 'bytes':
      return b.bytes
    case 'text':
    case 'truncated':
      return b.text
    case 'json':
      return JSON.stringify(b.value) ?? 'null'
    case 'nested':
      return `${'['.repeat(b.depth)}${']'.repeat(b.depth)}`
    case 'empty':
      return null
    case 'never-ends':
      return new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(`{"access_token":"${b.first}`))
          signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true })
        },
      })
  }
}

/** A `fetch` that serves `answers` in turn (the last one again when they run out). */
function fetchServing(answers: readonly Answer[], served: Answer[]): typeof fetch {
  let i = 0
  return (async (_input: unknown, init?: RequestInit) => {
    const a = answers[Math.min(i++, answers.length - 1)]!
    served.push(a)
    const signal = init?.signal ?? undefined
    if (a.reset) throw Object.assign(new TypeError('fetch failed'), { cause: new Error('socket hang up') })
    const nullBody = a.status === 204 || a.status === 205 || a.status === 304
    return new Response(nullBody ? null : bodyInit(a.body, signal), { status: a.status, headers: a.headers })
  }) as typeof fetch
}

/** A released token implies the answer it came from was a valid success. */
function expectValidRelease(result: TokenVaultExchangeResult, from: Answer | undefined): void {
  expect(from).toBeDefined()
  expect(from!.reset).toBe(false)
  expect(from!.status).toBe(200)
  expect(from!.body.kind).toBe('json')
  const raw = (from!.body as { value: Record<string, unknown> }).value
  expect(typeof raw.access_token).toBe('string')
  expect(raw.access_token).toBe(result.accessToken)
  expect(typeof raw.expires_in).toBe('number')
  expect(Number.isFinite(raw.expires_in)).toBe(true)
  expect(String(raw.token_type).toLowerCase()).toBe('bearer')
  expect(result.tokenType).toBe('Bearer')
  expect(result.expiresIn).toBe(raw.expires_in)
}

async function bounded<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('HANG: no answer long after the timeout')), HANG_GUARD_MS)
  })
  try {
    return { value: await Promise.race([p, guard]) }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('HANG')) throw error
    return { error }
  } finally {
    clearTimeout(timer)
  }
}

const config = resolveAuth0Config({ domain: ORIGIN, clientId: 'fuzz', clientSecret: SECRET }, {})
const noWait = async (_ms: number, signal?: AbortSignal) => {
  signal?.throwIfAborted()
}

describe('fuzz: hostile upstream answers', () => {
  it('TokenVaultClient throws only its own errors and releases only valid answers', async () => {
    let released = 0
    let refused = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(answer, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 1 }),
        async (answers, maxRetries) => {
          const served: Answer[] = []
          const client = new TokenVaultClient(config, {
            fetch: fetchServing(answers, served),
            timeoutMs: TIMEOUT_MS,
            maxRetries,
            sleep: noWait,
          })
          const { value, error } = await bounded(
            client.exchange({
              subjectToken: RT,
              subjectTokenType: 'refresh_token',
              connection: 'github',
              scopes: ['repo:read'],
            }),
          )
          if (error !== undefined) {
            refused++
            expect(error).toBeInstanceOf(TokenVaultGovernanceError)
            expect((error as TokenVaultGovernanceError).code).toBe('ERR_TOKEN_VAULT_EXCHANGE')
            expect(JSON.stringify(error)).not.toContain(SECRET)
            expect(served.length).toBeLessThanOrEqual(maxRetries + 1)
          } else {
            released++
            expectValidRelease(value!, served.at(-1))
          }
        },
      ),
      { numRuns: 200 },
    )
    // the generators reach both sides
    expect(released).toBeGreaterThan(0)
    expect(refused).toBeGreaterThan(0)
  }, 120_000)

  it('the vault throws only its own errors, audits each call once, and releases only valid answers', async () => {
    const policy = MACIScopePolicy.fromYamlString(
      `token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
`,
      'fuzz.yaml',
    )
    const audit = await TokenAuditLog.open('memory:')
    let calls = 0
    await fc.assert(
      fc.asyncProperty(fc.array(answer, { minLength: 1, maxLength: 2 }), async (answers) => {
        const served: Answer[] = []
        const vault = new ConstitutionalTokenVault({
          policy,
          audit,
          env: {},
          auth0: config,
          cache: false,
          fetch: fetchServing(answers, served),
          client: { timeoutMs: TIMEOUT_MS, maxRetries: 1, sleep: noWait },
        })
        const before = (await audit.head()).seq
        calls++
        const { value, error } = await bounded(
          vault.exchange({
            agentId: 'planner',
            role: 'EXECUTIVE',
            connection: 'github',
            scopes: ['repo:read'],
            refreshToken: RT,
          }),
        )
        const entries = (await audit.query()).filter((e) => e.seq > before)
        expect(entries).toHaveLength(1)
        if (error !== undefined) {
          expect(error).toBeInstanceOf(TokenVaultGovernanceError)
          expect(['error', 'denied_excess_scopes']).toContain(entries[0]!.outcome)
        } else {
          expect(entries[0]!.outcome).toBe('granted')
          expectValidRelease(
            { ...value!, accessToken: value!.accessToken, scopeReturned: true } as TokenVaultExchangeResult,
            served.at(-1),
          )
          for (const s of value!.scope) expect(['read:user', 'repo:read']).toContain(s)
        }
      }),
      { numRuns: 150 },
    )
    expect((await audit.verify()).entries).toBe(calls)
    await audit.close()
  }, 120_000)

  it('a 5 MB body is refused without being released, at 200 and at 500', async () => {
    const huge = `{"access_token":"${'a'.repeat(5 * 1024 * 1024)}","token_type":"Bearer","expires_in":60}`
    for (const status of [200, 500]) {
      for (const withLength of [true, false]) {
        const fetchHuge = (async () =>
          new Response(
            withLength
              ? huge
              : new ReadableStream({
                  start(c) {
                    c.enqueue(new TextEncoder().encode(huge))
                    c.close()
                  },
                }),
            { status, headers: { 'content-type': 'application/json' } },
          )) as typeof fetch
        const client = new TokenVaultClient(config, { fetch: fetchHuge, timeoutMs: 5_000, maxRetries: 0 })
        const { error } = await bounded(
          client.exchange({
            subjectToken: RT,
            subjectTokenType: 'refresh_token',
            connection: 'github',
            scopes: ['repo:read'],
          }),
        )
        expect(error, `status ${status}`).toBeInstanceOf(TokenVaultGovernanceError)
        expect((error as Error).message.length).toBeLessThan(2_000)
      }
    }
  }, 60_000)
})

// ---- hostile constitutions -------------------------------------------------------------------

const VALID = `token_vault:
  constitutional_hash: "608508a9bd224290"
  agents:
    planner: [EXECUTIVE]
  step_up:
    approvers: [JUDICIAL]
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
        high_risk_scopes: []
`

/** Letters from other scripts that look like Latin ones. */
const CONFUSABLES = [
  '\u0410',
  '\u0415',
  '\u041e',
  '\u0420',
  '\u0430',
  '\u0435',
  '\u043e',
  '\u0440',
  '\u0131',
  '\uff25',
  '\u212a',
  '\u0392',
]

const yamlish = fc
  .array(
    fc.constantFrom(
      'token_vault:',
      'connections:',
      'permitted_scopes:',
      'high_risk_scopes:',
      'agents:',
      'step_up:',
      'constitutional_hash:',
      'EXECUTIVE:',
      'github:',
      '  ',
      '\n',
      '- ',
      '[',
      ']',
      '{',
      '}',
      ', ',
      '&a ',
      '*a',
      '!!binary ',
      '!!js/function ',
      '? ',
      '|',
      '>',
      '"',
      "'",
      '#',
      '%YAML 1.2',
      '---',
      '...',
      '<<: *a',
      '\u0000',
      '\ufeff',
      '\t',
      'repo:read',
    ),
    { maxLength: 200 },
  )
  .map((parts) => parts.join(''))

const deepNesting = fc
  .integer({ min: 10, max: 20_000 })
  .chain((n) =>
    fc.constantFrom(
      `token_vault:\n  connections: ${'['.repeat(n)}${']'.repeat(n)}\n`,
      `token_vault:\n  connections: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`,
      `${Array.from({ length: Math.min(n, 2_000) }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`,
    ),
  )

const hugeScopes = fc.integer({ min: 1_000, max: 30_000 }).map(
  (n) => `token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: [${Array.from({ length: n }, (_, i) => `"s${i}"`).join(', ')}]
        high_risk_scopes: [${Array.from({ length: Math.floor(n / 2) }, (_, i) => `"s${i * 2}"`).join(', ')}]
`,
)

const confusable = fc
  .tuple(
    fc.constantFrom('role', 'scope', 'connection', 'agent', 'approver'),
    fc.constantFrom(...CONFUSABLES),
    fc.nat(),
  )
  .map(([where, ch, n]) => {
    const swap = (word: string) => {
      const at = n % word.length
      return word.slice(0, at) + ch + word.slice(at + 1)
    }
    switch (where) {
      case 'role':
        return VALID.replace('      EXECUTIVE:', `      ${swap('EXECUTIVE')}:`)
      case 'scope':
        return VALID.replace('"repo:read"]', `"${swap('repo:read')}"]`)
      case 'connection':
        return VALID.replace('    github:', `    ${swap('github')}:`)
      case 'agent':
        return VALID.replace('planner: [EXECUTIVE]', `planner: [${swap('EXECUTIVE')}]`)
      default:
        return VALID.replace('approvers: [JUDICIAL]', `approvers: [${swap('JUDICIAL')}]`)
    }
  })

const nulBytes = fc
  .array(fc.nat({ max: VALID.length }), { minLength: 1, maxLength: 5 })
  .map((at) => at.sort((a, b) => b - a).reduce((t, i) => `${t.slice(0, i)}\u0000${t.slice(i)}`, VALID))

const mutated = fc
  .array(fc.tuple(fc.nat({ max: VALID.length }), fc.nat({ max: 3 }), fc.string({ maxLength: 4 })), {
    minLength: 1,
    maxLength: 8,
  })
  .map((edits) => edits.reduce((t, [at, del, ins]) => t.slice(0, at) + ins + t.slice(at + del), VALID))

const aliasBomb = fc.integer({ min: 2, max: 12 }).map((levels) => {
  const lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
  for (let i = 1; i < levels; i++)
    lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`)
  return `${lines.join('\n')}\ntoken_vault:\n  constitutional_hash: "608508a9bd224290"\n  connections:\n    github:\n      EXECUTIVE:\n        permitted_scopes: *a${levels - 1}\n`
})

function expectLoadsOrConstitutionError(text: string): 'loaded' | 'refused' {
  try {
    const policy = MACIScopePolicy.fromYamlString(text, 'hostile.yaml')
    for (const role of policy.roles) expect(role).toMatch(/^[A-Z][A-Z0-9_]*$/)
    for (const connection of policy.connections) {
      expect(connection).toMatch(/^[A-Za-z0-9-]+$/)
      for (const role of policy.roles) {
        for (const s of policy.getRule(connection, role)?.permittedScopes ?? []) {
          expect(s).toMatch(/^[\x21\x23-\x5b\x5d-\x7e]+$/)
        }
      }
    }
    return 'loaded'
  } catch (err) {
    if (!(err instanceof ConstitutionError)) throw err
    expect(err.issues.length).toBeGreaterThan(0)
    for (const issue of err.issues) {
      expect(typeof issue.code).toBe('string')
      expect(issue.code.length).toBeGreaterThan(0)
      expect(typeof issue.message).toBe('string')
      expect(issue.message.length).toBeGreaterThan(0)
      expect(Number.isInteger(issue.line) && issue.line >= 0).toBe(true)
      expect(Number.isInteger(issue.column) && issue.column >= 0).toBe(true)
    }
    return 'refused'
  }
}

describe('fuzz: hostile constitutions', () => {
  it.each([
    ['YAML-ish noise', yamlish, 200],
    ['deep nesting', deepNesting, 30],
    ['huge scope lists', hugeScopes, 10],
    ['NUL bytes', nulBytes, 100],
    ['random edits of a valid file', mutated, 200],
    ['alias bombs', aliasBomb, 20],
  ] as const)(
    '%s: loads or throws ConstitutionError with well-formed issues',
    (_name, arb, numRuns) => {
      fc.assert(
        fc.property(arb as fc.Arbitrary<string>, (text) => {
          expectLoadsOrConstitutionError(text)
        }),
        { numRuns },
      )
    },
    120_000,
  )

  it('confusable letters in role, scope, connection, agent and approver names are refused', () => {
    fc.assert(
      fc.property(confusable, (text) => {
        expect(expectLoadsOrConstitutionError(text)).toBe('refused')
      }),
      { numRuns: 100 },
    )
  })

  it('NUL bytes are never accepted into a name', () => {
    fc.assert(
      fc.property(nulBytes, (text) => {
        const outcome = expectLoadsOrConstitutionError(text)
        if (outcome === 'loaded') {
          const policy = MACIScopePolicy.fromYamlString(text, 'hostile.yaml')
          expect(JSON.stringify(policy.constitution)).not.toContain('\\u0000')
        }
      }),
      { numRuns: 100 },
    )
  })
})
