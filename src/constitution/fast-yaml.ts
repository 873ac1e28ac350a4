/**
 * A fast path for large, plain constitutions: `js-yaml` builds a value several times faster than
 * the `yaml` package builds a document with positions. It is only an accelerator. Text that uses
 * a YAML feature where the two parsers could disagree (anchors, aliases, tags, directives,
 * explicit keys, block scalars, escapes, tabs, multi-line flow collections and quoted scalars,
 * comments not preceded by a blank) is declined before or while parsing, every plain scalar is
 * resolved exactly like the `yaml` core schema (or declined), and the caller uses the value only
 * when checking it finds no issue and no warning. Anything else goes through the `yaml` parser,
 * which stays the source of every error and warning with its position.
 */
import { FAILSAFE_SCHEMA, load, type State, Type } from 'js-yaml'

/** Thrown by the schema below to give up on the fast path; never leaves this module. */
class Declined extends Error {}

const decline = (): never => {
  throw new Declined()
}

/**
 * Plain scalars that the `yaml` core schema reads as something other than a string. Booleans and
 * decimal integers are built exactly as `yaml` builds them (`parseInt(text, 10)`); null, octal,
 * hexadecimal and floating-point forms never occur in a valid constitution, so they decline.
 */
const CORE_BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/
const CORE_INT = /^[-+]?[0-9]+$/
const CORE_OTHER =
  /^(?:~|[Nn]ull|NULL)?$|^0o[0-7]+$|^0x[0-9a-fA-F]+$|^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$|^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/

const SCHEMA = FAILSAFE_SCHEMA.extend({
  implicit: [
    new Type('tag:yaml.org,2002:bool', {
      kind: 'scalar',
      resolve: (data: unknown) => typeof data === 'string' && CORE_BOOL.test(data),
      construct: (data: string) => data[0] === 't' || data[0] === 'T',
    }),
    new Type('tag:yaml.org,2002:int', {
      kind: 'scalar',
      resolve: (data: unknown) => typeof data === 'string' && CORE_INT.test(data),
      construct: (data: string) => Number.parseInt(data, 10),
    }),
    new Type('tag:acgs-auth0,2026:decline', {
      kind: 'scalar',
      resolve: (data: unknown) => data === null || (typeof data === 'string' && CORE_OTHER.test(data)),
      construct: decline,
    }),
  ],
})

const LF = 0x0a
const CR = 0x0d
const SPACE = 0x20
const TAB = 0x09

/** Characters that start a YAML feature outside the fast path when they begin a node. */
const NODE_INDICATORS = ['&', '*', '!', '?', '|', '>', '%', '@', '`', ':'] as const

function isBlankOrBreak(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB
}

/**
 * Whether the text uses nothing that needs the full parser. Deliberately coarse: the characters
 * are looked for everywhere, inside quoted strings and comments too, so that a false "yes" is
 * impossible and a false "no" only costs the slow path.
 */
export function isPlainYaml(text: string): boolean {
  if (text.indexOf('\t') !== -1 || text.indexOf('\\') !== -1 || text.indexOf('<<') !== -1) return false
  // a carriage return only as part of CRLF: the parsers disagree on a lone one
  for (let i = text.indexOf('\r'); i !== -1; i = text.indexOf('\r', i + 1)) {
    if (text.charCodeAt(i + 1) !== LF) return false
  }
  // a node property or indicator at the start of a node: after a blank, a line break, `[`, `{`,
  // `,` or `:` (a flow value may follow a quoted key's `:` directly)
  for (const ch of NODE_INDICATORS) {
    for (let i = text.indexOf(ch); i !== -1; i = text.indexOf(ch, i + 1)) {
      if (i === 0) return false
      const p = text.charCodeAt(i - 1)
      if (isBlankOrBreak(p) || p === 0x5b || p === 0x7b || p === 0x2c || (p === 0x3a && ch !== ':')) {
        return false
      }
    }
  }
  // a comment must follow a blank or start a line (`"x"#c` is an error for yaml, not for js-yaml)
  for (let i = text.indexOf('#'); i !== -1; i = text.indexOf('#', i + 1)) {
    if (i > 0 && !isBlankOrBreak(text.charCodeAt(i - 1))) return false
  }
  // document markers: only a bare `---` line
  for (const marker of ['---', '...']) {
    for (let i = text.indexOf(marker); i !== -1; i = text.indexOf(marker, i + 1)) {
      if (i > 0 && text.charCodeAt(i - 1) !== LF && text.charCodeAt(i - 1) !== CR) continue
      if (marker === '...') return false
      let j = i + 3
      while (text.charCodeAt(j) === SPACE) j++
      const c = text.charCodeAt(j)
      if (!(Number.isNaN(c) || c === LF || c === CR)) return false
    }
  }
  return true
}

/**
 * Declines a quoted scalar or a flow collection that spans lines: `yaml` requires such
 * continuation lines to be indented further than the parent, `js-yaml` does not.
 */
function listener(): (event: 'open' | 'close', state: State) => void {
  const starts: number[] = []
  return (event, state) => {
    if (event === 'open') {
      starts.push(state.position)
      return
    }
    const start = starts.pop()!
    // `js-yaml` moves `lineStart` past every line break it reads: none since the node opened
    // means the node is on one line (the common case, answered without looking at the text)
    const lineStart = state.lineStart
    if (lineStart <= start) return
    const input = state.input
    const end = state.position
    let i = start
    // skip the separation (blanks, line breaks, comments) before the node's content
    while (i < end) {
      const c = input.charCodeAt(i)
      if (c === SPACE || c === LF || c === CR) i++
      else if (c === 0x23) {
        while (i < end && input.charCodeAt(i) !== LF && input.charCodeAt(i) !== CR) i++
      } else break
    }
    if (i >= end) return
    const first = input.charCodeAt(i)
    const quoted = (first === 0x22 || first === 0x27) && state.kind === 'scalar'
    const flow = (first === 0x5b || first === 0x7b) && state.kind !== 'scalar'
    // the content starts before the current line: it spans a line break
    if ((quoted || flow) && i < lineStart) decline()
  }
}

/**
 * The value of a single-document YAML text without the features above, or undefined when the
 * fast path declines or `js-yaml` refuses the text (duplicate keys, syntax errors, more than one
 * document): the caller then runs the full parser.
 */
export function loadPlainYaml(text: string): { value: unknown } | undefined {
  if (!isPlainYaml(text)) return undefined
  let warned = false
  try {
    const value = load(text, {
      schema: SCHEMA,
      json: false,
      listener: listener(),
      onWarning: () => {
        warned = true
      },
    })
    return warned ? undefined : { value }
  } catch {
    return undefined
  }
}
