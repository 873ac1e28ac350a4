/**
 * `parseConstitution(text, source)`: pure, synchronous loading of a constitution from YAML text.
 */
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type YAMLError,
  type Node as YamlNode,
} from 'yaml'
import { ConstitutionError, type ConstitutionIssue } from '../errors.js'
import { type CheckResult, checkConstitution, type DocPath, type Locator } from './check.js'
import { findExcessiveNesting } from './depth.js'
import { loadPlainYaml } from './fast-yaml.js'
import type { ParsedConstitution, ParseOptions } from './types.js'

/** The default size limit: 4 MiB of UTF-8. */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024

/** Aliases may expand to at most this many nodes in total (the YAML library's weighting). */
export const MAX_ALIAS_COUNT = 100

/** Deeper nesting than this is refused before the YAML parser runs; a real constitution needs ~8. */
export const MAX_DEPTH = 64

const DEFAULT_SOURCE = '<string>'

/** Characters YAML 1.2 does not allow in a stream (§5.1), plus unpaired surrogates. */
const NON_PRINTABLE =
  /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** A superset of {@link NON_PRINTABLE} (every surrogate, U+0085): nothing matches, nothing to report. */
const MAYBE_NON_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF\uFFFE\uFFFF]/

/** @internal */
export function resolveMaxBytes(options: ParseOptions | undefined): number {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new TypeError('options.maxBytes must be a positive integer')
  }
  return maxBytes
}

/** @internal */
export function tooLarge(bytes: number, maxBytes: number, source: string): ConstitutionIssue {
  return {
    code: 'too_large',
    message: `the constitution is ${bytes} bytes, over the limit of ${maxBytes} bytes (raise it with the maxBytes option)`,
    source,
    line: 0,
    column: 0,
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let start = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++
    start = i + 1
  }
  return { line, column: offset - start + 1 }
}

/**
 * Parses and checks a constitution (DESIGN §2) from YAML text. Pure: no I/O.
 *
 * Both root forms load: the mapping under a top-level `token_vault:` key, or the same mapping at
 * the root. Every problem is collected and reported at once in a {@link ConstitutionError}, each
 * with a stable `code` and a 1-based line and column (0 when the problem has no position).
 *
 * The text is refused before parsing when it is larger than `maxBytes` (UTF-8), contains
 * characters YAML does not allow (`binary_content`), or nests deeper than 64 levels
 * (`too_deep`). Duplicate keys, more than one YAML document and alias expansion beyond 100 nodes
 * are refused too. JSON is a subset of YAML 1.2, so a JSON file with the right structure loads
 * like the equivalent YAML, and one with the wrong structure gets the usual structural errors.
 *
 * @param text - the YAML text
 * @param source - a file name or label used in every issue
 * @defaultValue source: `'<string>'`
 * @throws {@link ConstitutionError} listing every problem found
 * @throws TypeError when `options.maxBytes` is not a positive integer
 *
 * @example
 * ```ts
 * const { constitution, warnings } = parseConstitution(text, 'constitution.yaml')
 * for (const w of warnings) console.warn(`${w.source}:${w.line}:${w.column} ${w.code} ${w.message}`)
 * ```
 */
export function parseConstitution(
  text: string,
  source: string = DEFAULT_SOURCE,
  options?: ParseOptions,
): ParsedConstitution {
  if (typeof text !== 'string') throw new TypeError('text must be a string')
  const maxBytes = resolveMaxBytes(options)
  // UTF-8 never uses fewer bytes than UTF-16 code units, nor more than 3 per unit
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text, 'utf8') > maxBytes)) {
    throw new ConstitutionError([tooLarge(Buffer.byteLength(text, 'utf8'), maxBytes, source)])
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  // one character class first: a long text is almost always clean, and this test is much faster
  const bad = MAYBE_NON_PRINTABLE.test(body) ? NON_PRINTABLE.exec(body) : null
  if (bad) {
    const { line, column } = lineColumn(body, bad.index)
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')
    throw new ConstitutionError([
      {
        code: 'binary_content',
        message: `non-printable character U+${code}: expected UTF-8 YAML text (is this a binary file?)`,
        source,
        line,
        column,
      },
    ])
  }
  const deep = findExcessiveNesting(body, MAX_DEPTH)
  if (deep) {
    const { line, column } = lineColumn(body, deep.offset)
    throw new ConstitutionError([
      {
        code: 'too_deep',
        message: `the document nests more than ${MAX_DEPTH} levels deep; a constitution needs fewer than 10`,
        source,
        line,
        column,
      },
    ])
  }

  const fast = loadCleanJson(body, source) ?? loadPlain(body, source)
  if (fast) return fast
  return parseWithPositions(body, source)
}

/**
 * The `yaml` parser path, which every error and warning comes from: the text has passed the size,
 * character and depth checks, and has no byte order mark.
 *
 * @internal
 */
export function parseWithPositions(body: string, source: string): ParsedConstitution {
  const lineCounter = new LineCounter()
  const doc = parseDocument(body, {
    lineCounter,
    uniqueKeys: true,
    prettyErrors: true,
    strict: true,
    version: '1.2',
    schema: 'core',
    merge: false,
    resolveKnownTags: false,
  })
  const position = (offset: number | undefined): { line: number; column: number } => {
    if (offset === undefined) return { line: 0, column: 0 }
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const yamlIssue = (error: YAMLError, code: string): ConstitutionIssue => {
    const pos = error.linePos?.[0]
    const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
    return {
      code,
      message: code === 'yaml_syntax' ? `YAML syntax error: ${message}` : message,
      source,
      line: pos?.line ?? 0,
      column: pos?.col ?? 0,
    }
  }

  const errors: ConstitutionIssue[] = []
  let structural = false
  for (const error of doc.errors) {
    switch (error.code) {
      case 'DUPLICATE_KEY':
        errors.push({
          ...yamlIssue(error, 'duplicate_key'),
          message: 'duplicate key: each key may appear only once in a mapping',
        })
        break
      case 'MULTIPLE_DOCS':
        errors.push({
          ...yamlIssue(error, 'multiple_documents'),
          message: 'more than one YAML document (---): a constitution is a single document',
        })
        break
      case 'RESOURCE_EXHAUSTION':
        errors.push({ ...yamlIssue(error, 'too_deep'), message: 'the document nests too deeply' })
        throw new ConstitutionError(errors)
      default:
        structural = true
        errors.push(yamlIssue(error, 'yaml_syntax'))
    }
  }
  // After a syntax error the tree is a guess; checking it would only add noise.
  if (structural) throw new ConstitutionError(errors)

  if (
    doc.contents === null ||
    (isScalar(doc.contents) && doc.contents.value === null && !doc.contents.source)
  ) {
    if (errors.length > 0) throw new ConstitutionError(errors)
    throw new ConstitutionError([
      {
        code: 'empty_document',
        message: 'the constitution is empty: expected a mapping with "constitutional_hash" and "connections"',
        source,
        line: 0,
        column: 0,
      },
    ])
  }

  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    const message = err instanceof Error ? err.message : ''
    const alias = firstAlias(doc.contents)
    const pos = position(alias?.range?.[0])
    const issue: ConstitutionIssue = /alias count/i.test(message)
      ? {
          code: 'alias_limit',
          message: `aliases expand to more than ${MAX_ALIAS_COUNT} nodes (a "billion laughs" document?)`,
          source,
          ...pos,
        }
      : err instanceof RangeError
        ? { code: 'too_deep', message: 'the document nests too deeply', source, ...pos }
        : { code: 'yaml_syntax', message: `YAML error: ${message.slice(0, 200)}`, source, ...pos }
    throw new ConstitutionError([...errors, issue], { cause: err })
  }

  const locate: Locator = (path, part) => position(findOffset(doc.contents, path, part, doc))
  const result: CheckResult = checkConstitution(value, source, locate, true)
  const all = sortIssues([...errors, ...result.errors])
  if (all.length > 0 || !result.constitution) throw new ConstitutionError(all)
  const warnings = sortIssues([
    ...result.warnings,
    ...doc.warnings.map((w) => ({
      ...yamlIssue(w, 'yaml_warning'),
      message: `YAML: ${w.message.split('\n')[0]}`,
    })),
  ])
  return Object.freeze({ constitution: result.constitution, warnings: Object.freeze(warnings), source })
}

/**
 * JSON is YAML 1.2, but `JSON.parse` is far faster than a YAML parser on large generated
 * constitutions. A JSON text that parses, has no duplicate key and gives no issue at all loads
 * here; anything else goes through the YAML parser, which reports positions.
 */
function loadCleanJson(body: string, source: string): ParsedConstitution | undefined {
  let i = 0
  while (i < body.length && /\s/.test(body[i]!)) i++
  if (body[i] !== '{') return undefined
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (countJsonKeys(body) !== countParsedKeys(value)) return undefined
  const result = checkConstitution(value, source, () => ({ line: 0, column: 0 }), true)
  if (!result.constitution || result.errors.length > 0 || result.warnings.length > 0) return undefined
  return Object.freeze({ constitution: result.constitution, warnings: Object.freeze([]), source })
}

/**
 * @internal The `js-yaml` fast path (see `fast-yaml.ts`): used only when it accepts the text and checking
 * the value finds no issue at all; otherwise the `yaml` parser runs and reports with positions.
 */
export function loadPlain(body: string, source: string): ParsedConstitution | undefined {
  const loaded = loadPlainYaml(body)
  if (loaded === undefined) return undefined
  const result = checkConstitution(loaded.value, source, () => ({ line: 0, column: 0 }), true)
  if (!result.constitution || result.errors.length > 0 || result.warnings.length > 0) return undefined
  return Object.freeze({ constitution: result.constitution, warnings: Object.freeze([]), source })
}

/** Object members written in a valid JSON text: every string token followed by `:`. */
function countJsonKeys(text: string): number {
  let count = 0
  const n = text.length
  for (let i = 0; i < n; i++) {
    if (text.charCodeAt(i) !== 0x22) continue
    i++
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 0x5c) i += 2
      else if (c === 0x22) break
      else i++
    }
    let j = i + 1
    while (j < n) {
      const c = text.charCodeAt(j)
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break
      j++
    }
    if (text.charCodeAt(j) === 0x3a) count++
  }
  return count
}

/** Own keys of every object in a parsed JSON value; duplicates in the text collapse, so fewer. */
function countParsedKeys(value: unknown): number {
  let count = 0
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v !== 'object' || v === null) continue
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item)
    } else {
      const keys = Object.keys(v)
      count += keys.length
      for (const key of keys) stack.push((v as Record<string, unknown>)[key])
    }
  }
  return count
}

function sortIssues(issues: ConstitutionIssue[]): ConstitutionIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column)
}

function firstAlias(root: unknown): YamlNode | undefined {
  let found: YamlNode | undefined
  if (!isNode(root)) return undefined
  visit(root, {
    Alias(_key, node) {
      found = node
      return visit.BREAK
    },
  })
  return found
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value)
  if (isNode(key)) return String(key)
  return key === null || key === undefined ? undefined : String(key)
}

/** The source offset of the key or value at `path`, or of its nearest existing ancestor. */
function findOffset(root: unknown, path: DocPath, part: 'key' | 'value', doc: Document): number | undefined {
  let node: unknown = root
  let fallback: number | undefined = isNode(root) ? root.range?.[0] : undefined
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc)
    const seg = path[i]!
    const last = i === path.length - 1
    if (isMap(node)) {
      let pair: unknown
      for (let j = node.items.length - 1; j >= 0; j--) {
        const item = node.items[j]
        if (isPair(item) && keyText(item.key) === String(seg)) {
          pair = item
          break
        }
      }
      if (!isPair(pair)) return fallback
      const keyOffset = isNode(pair.key) ? pair.key.range?.[0] : undefined
      if (last && part === 'key') return keyOffset ?? fallback
      fallback = keyOffset ?? fallback
      node = pair.value
      if (!isNode(node)) return fallback
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg]
      if (!isNode(node)) return fallback
    } else {
      return fallback
    }
    fallback = (node as YamlNode).range?.[0] ?? fallback
  }
  return fallback
}
