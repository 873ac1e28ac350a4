import { createHash } from 'node:crypto'
import serialize from 'canonicalize'

/**
 * RFC 8785 (JCS) canonical JSON of a JSON-compatible value.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8785
 */
export function canonicalJson(value: unknown): string {
  const text = serialize(value)
  if (text === undefined) throw new TypeError('value has no JSON representation')
  return text
}

/** Lower-case hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}
