/**
 * Secret-canary scanning: collects every artifact a run produced (thrown errors in every printed
 * form, captured output, audit store bytes, logs) and looks for known secret values and
 * secret-shaped patterns in each of them.
 */
import { existsSync, readFileSync } from 'node:fs'
import { inspect } from 'node:util'

/** One thing a run produced, as text. */
export interface Artifact {
  name: string
  text: string
}

/** A secret found where it must not be. */
export interface Hit {
  artifact: string
  canary: string
  /** A few characters around the hit, the secret itself masked. */
  context: string
}

const MAX_CAUSES = 16

/** Collects artifacts and scans them for canaries. */
export class CanaryScanner {
  readonly artifacts: Artifact[] = []
  readonly #canaries = new Set<string>()
  readonly #patterns: RegExp[] = []

  /** Adds literal secret values to look for. */
  canary(...values: string[]): this {
    for (const v of values) if (v.length > 0) this.#canaries.add(v)
    return this
  }

  /** Adds a pattern (global flag added) that no artifact may match, e.g. an issued-token prefix. */
  pattern(re: RegExp): this {
    this.#patterns.push(new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`))
    return this
  }

  get canaryCount(): number {
    return this.#canaries.size
  }

  get patternCount(): number {
    return this.#patterns.length
  }

  text(name: string, text: string): this {
    this.artifacts.push({ name, text })
    return this
  }

  /** A value in every form a program might print it in. */
  value(name: string, value: unknown): this {
    if (typeof value === 'string') return this.text(name, value)
    if (Buffer.isBuffer(value)) return this.bytes(name, value)
    try {
      this.text(`${name} JSON`, JSON.stringify(value) ?? 'undefined')
    } catch (err) {
      this.text(`${name} JSON (threw)`, String(err))
    }
    this.text(`${name} inspect`, inspect(value, { depth: Number.POSITIVE_INFINITY }))
    this.text(`${name} inspect hidden`, inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true }))
    this.text(`${name} String`, safeString(value))
    return this
  }

  /** A thrown value: message, stack, JSON, inspect (also with hidden properties) and its cause chain. */
  error(name: string, err: unknown): this {
    let cur: unknown = err
    for (let depth = 0; depth < MAX_CAUSES && cur !== undefined && cur !== null; depth++) {
      const label = depth === 0 ? name : `${name} cause[${depth}]`
      if (cur instanceof Error) {
        this.text(`${label} message`, cur.message)
        this.text(`${label} stack`, cur.stack ?? '')
        for (const key of Object.getOwnPropertyNames(cur)) {
          const v = (cur as unknown as Record<string, unknown>)[key]
          if (typeof v === 'string') this.text(`${label} .${key}`, v)
        }
      }
      this.value(label, cur)
      cur = (cur as { cause?: unknown }).cause
    }
    return this
  }

  bytes(name: string, buf: Buffer): this {
    // latin1 keeps every byte, so an ASCII secret is found wherever it is stored
    return this.text(name, buf.toString('latin1'))
  }

  /** A file's bytes, if it exists (e.g. an SQLite `-wal`). */
  file(name: string, path: string): this {
    if (existsSync(path)) this.bytes(name, readFileSync(path))
    return this
  }

  /** Every place a canary or pattern occurs. */
  scan(): Hit[] {
    const hits: Hit[] = []
    for (const a of this.artifacts) {
      for (const c of this.#canaries) {
        let at = a.text.indexOf(c)
        while (at !== -1) {
          hits.push({ artifact: a.name, canary: mask(c), context: around(a.text, at, c.length) })
          at = a.text.indexOf(c, at + c.length)
        }
      }
      for (const re of this.#patterns) {
        re.lastIndex = 0
        for (const m of a.text.matchAll(re)) {
          hits.push({ artifact: a.name, canary: re.source, context: around(a.text, m.index, m[0].length) })
        }
      }
    }
    return hits
  }
}

function safeString(value: unknown): string {
  try {
    return String(value)
  } catch (err) {
    return `(String threw ${inspect(err)})`
  }
}

function mask(secret: string): string {
  return `${secret.slice(0, 10)}…(${secret.length})`
}

function around(text: string, at: number, length: number): string {
  return `${text.slice(Math.max(0, at - 40), at)}<SECRET>${text.slice(at + length, at + length + 40)}`
}
