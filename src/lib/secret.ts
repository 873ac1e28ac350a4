import { inspect } from 'node:util'

/**
 * Defines `key` on `target` as a read-only, non-enumerable property holding `value`, so that it
 * is readable by code that asks for it but absent from `JSON.stringify`, `Object.keys`,
 * spreads and `util.inspect`.
 */
export function defineSecret<T extends object, K extends string>(target: T, key: K, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false })
}

/** A string that prints as `[REDACTED]` however it is logged or serialized. */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  /** The secret itself: call only where it is sent. */
  reveal(): string {
    return this.#value
  }

  toString(): string {
    return '[REDACTED]'
  }

  toJSON(): string {
    return '[REDACTED]'
  }

  [inspect.custom](): string {
    return 'Secret([REDACTED])'
  }
}

// A long run of token characters mixing letters and digits: a token, key or secret that cannot be
// redacted by value because this code never saw it (a server or an approver quoting one back).
const TOKEN_LIKE = /[A-Za-z0-9_\-+/=.~]{24,}/g
const LETTER = /[A-Za-z]/
const DIGIT = /[0-9]/

/** Replaces every long token-like run (24+ token characters mixing letters and digits) with `[REDACTED]`. */
export function redactTokenLike(text: string): string {
  return text.replace(TOKEN_LIKE, (run) => (LETTER.test(run) && DIGIT.test(run) ? '[REDACTED]' : run))
}

/**
 * Makes free text from outside (an upstream answer, an approver's reason) safe to keep: the known
 * secrets and anything token-like redacted, printable ASCII only, at most `max` characters.
 */
export function sanitizeFreeText(text: string, secrets: Iterable<string | undefined>, max: number): string {
  const clean = redactTokenLike(redact(text, secrets)).replace(/[^\x20-\x7e]/g, '?')
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean
}

/**
 * Replaces every occurrence of each secret (of 4 or more characters) in `text` with
 * `[REDACTED]`. Used on text a server sends back, which may echo what it was sent.
 */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  let out = text
  for (const s of secrets) {
    if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('[REDACTED]')
  }
  return out
}
