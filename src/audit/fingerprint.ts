import { createHash } from 'node:crypto'

const DOMAIN = 'acgs-auth0/token-fingerprint/v1\u0000'

/**
 * A short, one-way fingerprint of a token, so that two audit entries about the same token can be
 * matched without storing the token: `tfp_` + the first 24 hex digits of a domain-separated
 * SHA-256. Tokens are high-entropy, so a truncated hash reveals nothing usable.
 *
 * @example
 * ```ts
 * fingerprintToken(response.accessToken) // 'tfp_3f1c…'
 * ```
 */
export function fingerprintToken(token: string): string {
  return `tfp_${createHash('sha256').update(DOMAIN).update(token, 'utf8').digest('hex').slice(0, 24)}`
}
