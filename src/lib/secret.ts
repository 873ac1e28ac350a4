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
