/**
 * Auth0's binding message: at most 64 characters of letters, digits, space and `+-_.,:#`.
 *
 * @see https://auth0.com/docs/api/authentication/login/start-back-channel-login
 */
export const BINDING_MESSAGE_MAX = 64

const DISALLOWED = /[^A-Za-z0-9 +\-_.,:#]/g

/** Replaces every character outside Auth0's set with `_`, folds spaces and cuts to 64. */
export function sanitizeBindingMessage(text: string): string {
  const clean = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(DISALLOWED, '_')
  return clean.replace(/ +/g, ' ').trim().slice(0, BINDING_MESSAGE_MAX).trim()
}

/**
 * Builds the binding message shown to the approver from agent, connection and scopes, e.g.
 * `builder asks github: repo:write`. Scopes that do not fit are summarized as `+N`.
 */
export function buildBindingMessage(agentId: string, connection: string, scopes: readonly string[]): string {
  const head = sanitizeBindingMessage(`${agentId} asks ${connection}:`)
  let body = ''
  for (let i = 0; i < scopes.length; i++) {
    const scope = sanitizeBindingMessage(scopes[i] ?? '')
    const rest = scopes.length - i - 1
    const candidate = body ? `${body},${scope}` : ` ${scope}`
    const suffix = rest > 0 ? ` +${rest}` : ''
    if ((head + candidate + suffix).length > BINDING_MESSAGE_MAX) {
      body += ` +${scopes.length - i}`
      break
    }
    body = candidate
  }
  return sanitizeBindingMessage(head + body)
}
