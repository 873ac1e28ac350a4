/**
 * A single linear pass that bounds how deeply a YAML text nests, before the YAML parser (whose
 * composer recurses once per level) ever sees it. It over-estimates rather than under-estimates:
 * a legitimate constitution nests about 7 levels deep, so a generous limit costs nothing.
 */

/** Where the text first nests deeper than allowed, 0-based offset. */
export interface DepthViolation {
  offset: number
  depth: number
}

const SPACE = 0x20
const TAB = 0x09
const LF = 0x0a
const CR = 0x0d

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB
}

function isBreakOrEnd(c: number): boolean {
  return Number.isNaN(c) || c === LF || c === CR || c === SPACE || c === TAB
}

/**
 * Returns the first place where the nesting exceeds `maxDepth`, or undefined.
 * Nesting counts open flow collections (`[`, `{`), block indentation levels and the block
 * indicators (`- `, `? `, `key: `) that open a node on the same line.
 */
export function findExcessiveNesting(text: string, maxDepth: number): DepthViolation | undefined {
  const n = text.length
  const indents: number[] = []
  let flow = 0
  let i = 0
  // the indentation of a block scalar's parent line while its content is being skipped
  let blockScalarIndent = -1
  while (i < n) {
    // start of a line
    const lineStart = i
    let indent = 0
    while (i < n && text.charCodeAt(i) === SPACE) {
      indent++
      i++
    }
    const first = text.charCodeAt(i)
    const blankLine = i >= n || first === LF || first === CR || first === 0x23 /* # */
    if (blockScalarIndent >= 0) {
      if (blankLine || indent > blockScalarIndent) {
        i = Math.max(skipBreak(text, skipLine(text, i)), lineStart + 1)
        continue
      }
      blockScalarIndent = -1
    }
    if (flow === 0 && !blankLine) {
      while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop()
      indents.push(indent)
    }
    let inline = 0
    let nodeStart = true
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === LF || c === CR) break
      if (isBlank(c)) {
        i++
        continue
      }
      if (c === 0x23 /* # */ && (i === 0 || isBreakOrEnd(text.charCodeAt(i - 1)))) {
        i = skipLine(text, i)
        break
      }
      if (nodeStart && (c === 0x22 /* " */ || c === 0x27) /* ' */) {
        i = skipQuoted(text, i, c)
        nodeStart = false
        continue
      }
      if ((c === 0x5b /* [ */ || c === 0x7b) /* { */ && (nodeStart || flow > 0)) {
        flow++
        const depth = flow + indents.length + inline
        if (depth > maxDepth) return { offset: i, depth }
        nodeStart = true
        i++
        continue
      }
      if ((c === 0x5d /* ] */ || c === 0x7d) /* } */ && flow > 0) {
        flow--
        nodeStart = false
        i++
        continue
      }
      if (c === 0x2c /* , */ && flow > 0) {
        nodeStart = true
        i++
        continue
      }
      const next = text.charCodeAt(i + 1)
      if ((c === 0x2d /* - */ || c === 0x3f) /* ? */ && nodeStart && isBreakOrEnd(next)) {
        if (flow === 0) {
          inline++
          const depth = indents.length + inline
          if (depth > maxDepth) return { offset: i, depth }
        }
        nodeStart = true
        i++
        continue
      }
      if (c === 0x3a /* : */ && (isBreakOrEnd(next) || flow > 0)) {
        if (flow === 0) {
          inline++
          const depth = indents.length + inline
          if (depth > maxDepth) return { offset: i, depth }
        }
        nodeStart = true
        i++
        continue
      }
      if ((c === 0x7c /* | */ || c === 0x3e) /* > */ && nodeStart && flow === 0) {
        blockScalarIndent = indent
        i = skipLine(text, i)
        break
      }
      nodeStart = false
      i++
    }
    i = Math.max(skipBreak(text, i), lineStart + 1)
  }
  return undefined
}

function skipBreak(text: string, i: number): number {
  if (i < text.length && text.charCodeAt(i) === CR) i++
  if (i < text.length && text.charCodeAt(i) === LF) i++
  return i
}

function skipLine(text: string, i: number): number {
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === LF || c === CR) return i
    i++
  }
  return n
}

function skipQuoted(text: string, start: number, q: number): number {
  const n = text.length
  const quote = q === 0x22 ? '"' : "'"
  let i = start + 1
  for (;;) {
    // indexOf runs natively, far faster than a charCodeAt loop over long quoted scopes
    const end = text.indexOf(quote, i)
    if (end === -1) return n
    if (q === 0x22) {
      // the quote is escaped when an odd number of backslashes precede it
      let backslashes = 0
      for (let j = end - 1; j > start && text.charCodeAt(j) === 0x5c; j--) backslashes++
      if (backslashes % 2 === 1) {
        i = end + 1
        continue
      }
      return end + 1
    }
    if (text.charCodeAt(end + 1) === 0x27) {
      i = end + 2
      continue
    }
    return end + 1
  }
}
