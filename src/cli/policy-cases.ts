/**
 * The decision-test file of `acgs-auth0 test FILE CASES`: a YAML list of requests and the
 * decision each must get. Read strictly: every problem is reported with file, line and column.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml'
import type { ConstitutionIssue } from '../errors.js'
import type { Decision, ReasonCode, TokenScopeRequest } from '../policy/types.js'

/** One decision test. */
export interface PolicyTestCase {
  name: string
  request: TokenScopeRequest
  expect: Decision
  /** When set, the decision's reasons must include this code. */
  reason?: ReasonCode
  /** Where the case starts in the file (1-based). */
  line: number
  column: number
}

/** The cases file is malformed; `issues` lists every problem found. */
export class TestCasesError extends Error {
  override name = 'TestCasesError'
  readonly issues: readonly ConstitutionIssue[]

  constructor(issues: readonly ConstitutionIssue[]) {
    const first = issues[0]
    super(first ? `${first.source}:${first.line}:${first.column}: ${first.message}` : 'invalid test cases')
    this.issues = issues
  }
}

const DECISIONS: readonly Decision[] = ['allow', 'step_up', 'deny']
const REASONS: readonly ReasonCode[] = [
  'invalid_request',
  'agent_role_not_assigned',
  'role_not_permitted',
  'scope_violation',
  'step_up_required',
  'permitted',
]
const CASE_KEYS = new Set(['name', 'request', 'expect', 'reason'])
const REQUEST_KEYS = new Set(['agent', 'role', 'connection', 'scopes'])

/**
 * Parses a cases file: a `cases:` list at the root, or a bare list, of
 * `{ name, request: { agent, role, connection, scopes }, expect: allow | step_up | deny, reason? }`.
 *
 * @throws {@link TestCasesError} listing every problem, each with its line and column
 */
export function parseTestCases(text: string, source: string): PolicyTestCase[] {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  const issues: ConstitutionIssue[] = []
  const at = (node: Node | null | undefined, code: string, message: string): void => {
    const offset = node?.range?.[0]
    const pos = offset === undefined ? { line: 0, col: 0 } : lineCounter.linePos(offset)
    issues.push({ code, message, source, line: pos.line, column: pos.col })
  }
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(err.pos[0])
    const message = err.message.split('\n')[0] ?? err.message
    issues.push({ code: 'yaml_syntax', message, source, line: pos.line, column: pos.col })
  }
  if (issues.length > 0) throw new TestCasesError(issues)

  let list: Node | null | undefined = doc.contents
  if (isMap(list)) {
    const root: YAMLMap = list
    for (const pair of root.items) {
      const key = isScalar(pair.key) ? pair.key.value : undefined
      if (key !== 'cases')
        at(pair.key as Node, 'unknown_key', `unknown key ${JSON.stringify(key)} (expected "cases")`)
    }
    list = root.get('cases', true) as Node | undefined
    if (list === undefined) at(doc.contents, 'missing_key', 'missing "cases" list')
  }
  const cases: PolicyTestCase[] = []
  if (list !== undefined && !isSeq(list)) {
    at(list ?? doc.contents, 'wrong_type', 'expected a list of cases (or a mapping with a "cases" list)')
  }
  if (isSeq(list)) {
    if (list.items.length === 0) at(list, 'empty', 'no test cases')
    const names = new Set<string>()
    for (const item of list.items as Node[]) {
      const parsed = parseCase(item, at)
      if (!parsed) continue
      if (names.has(parsed.name))
        at(item, 'duplicate_name', `duplicate case name ${JSON.stringify(parsed.name)}`)
      names.add(parsed.name)
      const pos = lineCounter.linePos(item.range?.[0] ?? 0)
      cases.push({ ...parsed, line: pos.line, column: pos.col })
    }
  }
  if (issues.length > 0)
    throw new TestCasesError(issues.sort((a, b) => a.line - b.line || a.column - b.column))
  return cases
}

type At = (node: Node | null | undefined, code: string, message: string) => void

function field(map: YAMLMap, key: string): Node | undefined {
  return map.get(key, true) as Node | undefined
}

function stringAt(map: YAMLMap, key: string, where: string, at: At, required = true): string | undefined {
  const node = field(map, key)
  if (node === undefined) {
    if (required) at(map, 'missing_key', `${where}: missing "${key}"`)
    return undefined
  }
  if (!isScalar(node) || typeof node.value !== 'string') {
    at(node, 'wrong_type', `${where}: "${key}" must be a string`)
    return undefined
  }
  return node.value
}

function checkKeys(map: YAMLMap, allowed: ReadonlySet<string>, where: string, at: At): void {
  for (const pair of map.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined
    if (typeof key !== 'string' || !allowed.has(key)) {
      at(
        pair.key as Node,
        'unknown_key',
        `${where}: unknown key ${JSON.stringify(key)} (expected ${[...allowed].join(', ')})`,
      )
    }
  }
}

function parseCase(item: Node, at: At): Omit<PolicyTestCase, 'line' | 'column'> | undefined {
  if (!isMap(item)) {
    at(item, 'wrong_type', 'a case must be a mapping with name, request and expect')
    return undefined
  }
  checkKeys(item, CASE_KEYS, 'case', at)
  const name = stringAt(item, 'name', 'case', at)
  const where = name === undefined ? 'case' : `case ${JSON.stringify(name)}`
  if (name !== undefined && name.trim() === '')
    at(field(item, 'name'), 'wrong_type', 'case: "name" must not be empty')
  const expect = stringAt(item, 'expect', where, at)
  if (expect !== undefined && !DECISIONS.includes(expect as Decision)) {
    at(field(item, 'expect'), 'invalid_value', `${where}: "expect" must be one of ${DECISIONS.join(', ')}`)
  }
  const reason = stringAt(item, 'reason', where, at, false)
  if (reason !== undefined && !REASONS.includes(reason as ReasonCode)) {
    at(field(item, 'reason'), 'invalid_value', `${where}: "reason" must be one of ${REASONS.join(', ')}`)
  }
  const requestNode = field(item, 'request')
  let request: TokenScopeRequest | undefined
  if (requestNode === undefined) at(item, 'missing_key', `${where}: missing "request"`)
  else if (!isMap(requestNode)) at(requestNode, 'wrong_type', `${where}: "request" must be a mapping`)
  else request = parseRequest(requestNode, `${where} request`, at)
  if (name === undefined || expect === undefined || request === undefined) return undefined
  const out: Omit<PolicyTestCase, 'line' | 'column'> = { name, request, expect: expect as Decision }
  if (reason !== undefined) out.reason = reason as ReasonCode
  return out
}

function parseRequest(map: YAMLMap, where: string, at: At): TokenScopeRequest | undefined {
  checkKeys(map, REQUEST_KEYS, where, at)
  const agentId = stringAt(map, 'agent', where, at)
  const role = stringAt(map, 'role', where, at)
  const connection = stringAt(map, 'connection', where, at)
  const scopesNode = field(map, 'scopes')
  let scopes: string[] | undefined
  if (scopesNode === undefined) at(map, 'missing_key', `${where}: missing "scopes"`)
  else if (!isSeq(scopesNode)) at(scopesNode, 'wrong_type', `${where}: "scopes" must be a list of strings`)
  else {
    scopes = []
    for (const s of scopesNode.items as Node[]) {
      if (isScalar(s) && typeof s.value === 'string') scopes.push(s.value)
      else {
        at(s, 'wrong_type', `${where}: every scope must be a string`)
        scopes = undefined
        break
      }
    }
  }
  if (agentId === undefined || role === undefined || connection === undefined || scopes === undefined)
    return undefined
  return { agentId, role, connection, scopes }
}
