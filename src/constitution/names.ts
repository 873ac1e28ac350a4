/**
 * The character rules for the names a constitution uses: OAuth scopes, MACI role names,
 * Auth0 connection names and agent ids.
 */

/** The seven standard MACI roles (DESIGN §1). Other upper-case names are allowed with a warning. */
export const STANDARD_ROLES: readonly string[] = Object.freeze([
  'EXECUTIVE',
  'LEGISLATIVE',
  'JUDICIAL',
  'MONITOR',
  'AUDITOR',
  'CONTROLLER',
  'IMPLEMENTER',
])

const STANDARD_ROLE_SET: ReadonlySet<string> = new Set(STANDARD_ROLES)

/** Whether `role` is one of the seven standard MACI roles. */
export function isStandardRole(role: string): boolean {
  return STANDARD_ROLE_SET.has(role)
}

/** Upper-case identifier: a letter, then letters, digits and `_`. */
const ROLE_NAME = /^[A-Z][A-Z0-9_]{0,63}$/

/** Whether `role` is a well-formed MACI role name (`^[A-Z][A-Z0-9_]*$`, at most 64 characters). */
export function isValidRoleName(role: string): boolean {
  return ROLE_NAME.test(role)
}

/**
 * Auth0 connection names: alphanumeric and `-`, starting and ending with an alphanumeric
 * character, at most 128 characters.
 */
const CONNECTION_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,126}[A-Za-z0-9])?$/

/** Whether `name` is a valid Auth0 connection name. */
export function isValidConnectionName(name: string): boolean {
  return CONNECTION_NAME.test(name)
}

/** Agent ids: 1 to 256 printable ASCII characters, no space, not `__proto__`. */
const AGENT_ID = /^[\x21-\x7e]{1,256}$/

/** Whether `id` is acceptable as an agent id in the `agents:` section. */
export function isValidAgentId(id: string): boolean {
  // `__proto__` cannot be a plain own key everywhere a value travels (schema output, spreads)
  return AGENT_ID.test(id) && id !== '__proto__'
}

/**
 * Whether `scope` is a valid OAuth scope token: one or more characters from
 * `%x21 / %x23-5B / %x5D-7E` (printable ASCII except space, `"` and `\`). Anything else,
 * including NUL, control characters and look-alike letters from other scripts, is refused.
 *
 * @example
 * ```ts
 * isValidScope('repo:read') // true
 * isValidScope('repo read') // false: a space separates two scopes
 * isValidScope('rеpo:read') // false: the 'е' is Cyrillic
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 */
export function isValidScope(scope: string): boolean {
  if (typeof scope !== 'string') return false
  const length = scope.length
  if (length === 0) return false
  for (let i = 0; i < length; i++) {
    const c = scope.charCodeAt(i)
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c) return false
  }
  return true
}

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

/** A value quoted for a message, cut short so that hostile input cannot flood a log. */
export function quote(value: string, max = 64): string {
  if (value.length <= max && PLAIN.test(value)) return `"${value}"`
  const cut = value.length > max ? `${value.slice(0, max)}…` : value
  return JSON.stringify(cut)
}
