import { randomBytes } from 'node:crypto'
import { type Answer, oauthError, type Params, str } from './http.js'
import type { EmulatorUser } from './types.js'

/** Auth0's Token Vault grant type. */
export const TOKEN_VAULT_GRANT =
  'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token'
/** The only `requested_token_type` Token Vault issues. */
export const FEDERATED_TOKEN_TYPE = 'http://auth0.com/oauth/token-type/federated-connection-access-token'
const REFRESH_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:refresh_token'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** What the exchange needs from the tenant. */
export interface SubjectDirectory {
  byRefreshToken(token: string): EmulatorUser | undefined
  byAccessToken(token: string): EmulatorUser | undefined
  tokenExpiresIn: number
}

/** A fresh, unique provider access token. */
export function newAccessToken(prefix = 'emu_at_'): string {
  return prefix + randomBytes(24).toString('base64url')
}

/**
 * Auth0 Token Vault exchange (client already authenticated).
 *
 * @see https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token
 */
export function handleTokenVaultExchange(params: Params, dir: SubjectDirectory): Answer {
  const subjectTokenType = str(params, 'subject_token_type')
  if (!subjectTokenType)
    return oauthError(400, 'invalid_request', 'Missing required parameter: subject_token_type')
  if (subjectTokenType !== REFRESH_TOKEN_TYPE && subjectTokenType !== ACCESS_TOKEN_TYPE) {
    return oauthError(400, 'invalid_request', 'Unsupported subject_token_type')
  }
  const subjectToken = str(params, 'subject_token')
  if (!subjectToken) return oauthError(400, 'invalid_request', 'Missing required parameter: subject_token')
  const requestedTokenType = str(params, 'requested_token_type')
  if (!requestedTokenType)
    return oauthError(400, 'invalid_request', 'Missing required parameter: requested_token_type')
  if (requestedTokenType !== FEDERATED_TOKEN_TYPE) {
    return oauthError(400, 'invalid_request', 'Unsupported requested_token_type')
  }
  const connection = str(params, 'connection')
  if (!connection) return oauthError(400, 'invalid_request', 'Missing required parameter: connection')

  const user =
    subjectTokenType === REFRESH_TOKEN_TYPE
      ? dir.byRefreshToken(subjectToken)
      : dir.byAccessToken(subjectToken)
  if (!user) {
    return subjectTokenType === REFRESH_TOKEN_TYPE
      ? oauthError(403, 'invalid_grant', 'Unknown or invalid refresh token.')
      : oauthError(401, 'invalid_grant', 'Invalid subject token.')
  }

  const loginHint = str(params, 'login_hint')
  let granted: string[] | undefined
  if (loginHint !== undefined) {
    granted = user.accounts?.[connection]?.[loginHint]
    if (!granted) {
      const onConnection = user.connections[connection] ?? user.accounts?.[connection]
      return onConnection
        ? oauthError(401, 'user_not_found', 'User not found.')
        : oauthError(
            401,
            'federated_connection_refresh_token_not_found',
            'Federated connection Refresh Token not found.',
          )
    }
  } else {
    granted = user.connections[connection] ?? Object.values(user.accounts?.[connection] ?? {})[0]
  }
  if (!granted) {
    return oauthError(
      401,
      'federated_connection_refresh_token_not_found',
      'Federated connection Refresh Token not found.',
    )
  }

  const requested = (str(params, 'scope') ?? '').split(' ').filter(Boolean)
  let scope: readonly string[] = granted
  if (requested.length) {
    const notGranted = requested.filter((s) => !granted.includes(s))
    if (notGranted.length) {
      return oauthError(403, 'invalid_scope', `The requested scope was not granted: ${notGranted.join(' ')}`)
    }
    scope = [...new Set(requested)]
  }
  return {
    status: 200,
    body: {
      access_token: newAccessToken(),
      expires_in: dir.tokenExpiresIn,
      scope: scope.join(' '),
      token_type: 'Bearer',
      issued_token_type: FEDERATED_TOKEN_TYPE,
    },
  }
}
