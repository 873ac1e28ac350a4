import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { CIBA_GRANT, CibaStore, emulatorJwks } from './ciba.js'
import { parseEmulatorConfig } from './config.js'
import {
  type Answer,
  BadBodyError,
  BodyTooLargeError,
  oauthError,
  type Params,
  parseBasic,
  parseParams,
  readBody,
  str,
} from './http.js'
import { handleTokenVaultExchange, TOKEN_VAULT_GRANT } from './token-exchange.js'
import type {
  EmulatorClient,
  EmulatorFault,
  EmulatorOptions,
  EmulatorRequestRecord,
  EmulatorUser,
  TokenVaultEmulator,
} from './types.js'

const TOKEN_PATH = '/oauth/token'
const BC_PATH = '/bc-authorize'
const DISCOVERY_PATH = '/.well-known/openid-configuration'
const JWKS_PATH = '/.well-known/jwks.json'
/** The request log keeps the newest entries only, so that a long-running emulator stays small. */
const MAX_LOG = 10_000
/** Grant types the emulated tenant knows but does not serve: answered `unauthorized_client`. */
const KNOWN_GRANTS = new Set([
  'authorization_code',
  'client_credentials',
  'refresh_token',
  'password',
  'http://auth0.com/oauth/grant-type/password-realm',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:token-exchange',
])

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** Default Auth0-style error for a fault's bare status. */
function faultError(status: number): { error: string; error_description: string } {
  if (status === 429)
    return { error: 'too_many_requests', error_description: 'Global limit has been reached' }
  if (status === 401) return { error: 'access_denied', error_description: 'Unauthorized' }
  if (status === 403) return { error: 'unauthorized_client', error_description: 'Forbidden' }
  if (status === 503) return { error: 'temporarily_unavailable', error_description: 'Service Unavailable' }
  if (status >= 500) return { error: 'server_error', error_description: 'Internal Server Error' }
  return { error: 'invalid_request', error_description: 'Bad Request' }
}

interface Window {
  start: number
  count: number
}

interface QueuedFault {
  fault: EmulatorFault
  left: number
}

/**
 * Starts an Auth0-compatible tenant on loopback that speaks Token Vault's token exchange and
 * CIBA (poll mode), for development, demos and tests. Point a client at it by setting
 * `AUTH0_DOMAIN` to its `url`.
 *
 * @example
 * ```ts
 * import { startTokenVaultEmulator } from 'acgs-auth0/emulator'
 * const emu = await startTokenVaultEmulator({
 *   clients: [{ clientId: 'demo-client', clientSecret: 'demo-secret' }],
 *   users: [{ userId: 'auth0|alice', refreshToken: 'rt_alice', connections: { github: ['repo:read'] } }],
 * })
 * process.env.AUTH0_DOMAIN = emu.url
 * // ...
 * await emu.close()
 * ```
 * @throws EmulatorConfigError when the options are malformed
 * @see https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token
 * @see https://auth0.com/docs/api/authentication/login/start-back-channel-login
 */
export async function startTokenVaultEmulator(options: EmulatorOptions): Promise<TokenVaultEmulator> {
  const config = parseEmulatorConfig(options)
  const now = options.now ?? Date.now
  const clients = new Map<string, EmulatorClient>(config.clients.map((c) => [c.clientId, { ...c }]))
  const byRefresh = new Map<string, EmulatorUser>()
  const byAccess = new Map<string, EmulatorUser>()
  const byId = new Map<string, EmulatorUser>()
  for (const u of config.users) {
    const user = structuredClone(u)
    byRefresh.set(user.refreshToken, user)
    if (user.accessToken) byAccess.set(user.accessToken, user)
    byId.set(user.userId, user)
  }
  const revoked = new Set<string>()
  const tokenExpiresIn = config.tokenExpiresIn ?? 3600
  const log: EmulatorRequestRecord[] = []
  const faults: QueuedFault[] = []
  const windows = new Map<string, Window>()
  const timers = new Set<NodeJS.Timeout>()
  const sockets = new Set<Socket>()
  let url = ''
  let ciba: CibaStore | undefined

  const directory = {
    byRefreshToken: (t: string) => (revoked.has(t) ? undefined : byRefresh.get(t)),
    byAccessToken: (t: string) => byAccess.get(t),
    tokenExpiresIn,
  }

  function authenticate(
    req: IncomingMessage,
    params: Params,
  ): { client: EmulatorClient } | { answer: Answer } {
    const basic = parseBasic(req.headers.authorization)
    const bodyId = str(params, 'client_id')
    const bodySecret = str(params, 'client_secret')
    if (basic === 'malformed')
      return { answer: oauthError(400, 'invalid_request', 'Malformed Authorization header') }
    if (basic && bodySecret !== undefined) {
      return {
        answer: oauthError(400, 'invalid_request', 'Only one client authentication method may be used'),
      }
    }
    if (basic && bodyId !== undefined && bodyId !== basic.clientId) {
      return {
        answer: oauthError(400, 'invalid_request', 'client_id does not match the Authorization header'),
      }
    }
    const clientId = basic?.clientId ?? bodyId
    const secret = basic?.clientSecret ?? bodySecret
    if (clientId === undefined)
      return { answer: oauthError(400, 'invalid_request', 'Missing required parameter: client_id') }
    const client = clients.get(clientId)
    const ok =
      client !== undefined &&
      secret !== undefined &&
      timingSafeEqual(digest(secret), digest(client.clientSecret))
    if (!ok || !client) return { answer: oauthError(401, 'access_denied', 'Unauthorized') }
    return { client }
  }

  /** Counts one request for `clientId`; returns the x-ratelimit-* headers and whether it is over. */
  function rateLimit(clientId: string): {
    headers: Record<string, string>
    over: boolean
    retryAfter: number
  } {
    const limit = config.rateLimit
    if (!limit) return { headers: {}, over: false, retryAfter: 0 }
    const t = now()
    const span = limit.perSeconds * 1000
    let w = windows.get(clientId)
    if (!w || t >= w.start + span) {
      w = { start: t, count: 0 }
      windows.set(clientId, w)
    }
    w.count++
    const resetMs = w.start + span
    const headers = {
      'x-ratelimit-limit': String(limit.max),
      'x-ratelimit-remaining': String(Math.max(0, limit.max - w.count)),
      'x-ratelimit-reset': String(Math.ceil(resetMs / 1000)),
    }
    return { headers, over: w.count > limit.max, retryAfter: Math.max(1, Math.ceil((resetMs - t) / 1000)) }
  }

  /**
   * The issuer as the client addressed it (`http://localhost:PORT/` or `http://127.0.0.1:PORT/`):
   * Auth0 issues tokens for the domain a request was made to (custom domains).
   */
  function issuerFor(req: IncomingMessage): string {
    const host = req.headers.host
    return host && /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)
      ? `http://${host}/`
      : `${url}/`
  }

  function handle(req: IncomingMessage, path: string, params: Params): Answer {
    const grantType = path === TOKEN_PATH ? str(params, 'grant_type') : undefined
    if (path === TOKEN_PATH) {
      if (!grantType) return oauthError(400, 'invalid_request', 'Missing required parameter: grant_type')
      if (grantType !== TOKEN_VAULT_GRANT && grantType !== CIBA_GRANT) {
        return KNOWN_GRANTS.has(grantType)
          ? oauthError(403, 'unauthorized_client', `Grant type '${grantType}' not allowed for the client.`)
          : oauthError(400, 'unsupported_grant_type', `Unsupported grant type: ${grantType.slice(0, 200)}`)
      }
    }
    const auth = authenticate(req, params)
    if ('answer' in auth) return auth.answer
    const rl = rateLimit(auth.client.clientId)
    if (rl.over) {
      return oauthError(429, 'too_many_requests', 'Rate limit exceeded for this client. Try again later.', {
        ...rl.headers,
        'retry-after': String(rl.retryAfter),
      })
    }
    let answer: Answer
    if (path === BC_PATH) answer = cibaStore().authorize(params, auth.client.clientId, issuerFor(req))
    else if (grantType === CIBA_GRANT) answer = cibaStore().poll(params, auth.client.clientId, issuerFor(req))
    else answer = handleTokenVaultExchange(params, directory)
    return { ...answer, headers: { ...rl.headers, ...answer.headers } }
  }

  function cibaStore(): CibaStore {
    ciba ??= new CibaStore({
      issuer: `${url}/`,
      interval: config.ciba?.interval ?? 5,
      expiresIn: config.ciba?.expiresIn ?? 300,
      tokenExpiresIn,
      now,
      userById: (id) => byId.get(id),
    })
    return ciba
  }

  function takeFault(path: string): EmulatorFault | undefined {
    const i = faults.findIndex((f) => f.fault.path === undefined || f.fault.path === path)
    const q = faults[i]
    if (!q) return undefined
    if (--q.left <= 0) faults.splice(i, 1)
    return q.fault
  }

  function send(res: ServerResponse, answer: Answer): void {
    if (res.destroyed || res.headersSent) return
    const text = answer.raw ? String(answer.body) : JSON.stringify(answer.body)
    res.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      pragma: 'no-cache',
      ...answer.headers,
      'content-length': String(Buffer.byteLength(text)),
    })
    res.end(text)
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t)
        resolve()
      }, ms)
      timers.add(t)
    })
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? '').slice(0, 16)
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const record: EmulatorRequestRecord = { method, path: path.slice(0, 256), status: 0, at: now() }
    log.push(record)
    if (log.length > MAX_LOG) log.splice(0, log.length - MAX_LOG)
    const reply = (answer: Answer) => {
      record.status = answer.status
      send(res, answer)
    }
    if (path === DISCOVERY_PATH && method === 'GET') {
      const issuer = issuerFor(req)
      const origin = issuer.slice(0, -1)
      reply({
        status: 200,
        body: {
          issuer,
          token_endpoint: `${origin}${TOKEN_PATH}`,
          backchannel_authentication_endpoint: `${origin}${BC_PATH}`,
          backchannel_token_delivery_modes_supported: ['poll'],
          grant_types_supported: [TOKEN_VAULT_GRANT, CIBA_GRANT],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
          jwks_uri: `${origin}${JWKS_PATH}`,
          id_token_signing_alg_values_supported: ['RS256'],
        },
      })
      return
    }
    if (path === JWKS_PATH && method === 'GET') {
      reply({ status: 200, body: emulatorJwks() })
      return
    }
    if (path !== TOKEN_PATH && path !== BC_PATH) {
      reply(oauthError(404, 'not_found', 'Not Found'))
      return
    }
    if (method !== 'POST') {
      reply({ ...oauthError(405, 'method_not_allowed', 'Method Not Allowed'), headers: { allow: 'POST' } })
      return
    }
    let params: Params
    try {
      params = parseParams(req.headers['content-type'], await readBody(req))
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        res.setHeader('connection', 'close')
        reply(oauthError(413, 'invalid_request', 'Request body too large'))
        return
      }
      if (err instanceof BadBodyError) {
        reply(oauthError(400, 'invalid_request', err.message))
        return
      }
      reply(oauthError(400, 'invalid_request', 'Unreadable request body'))
      return
    }
    if (path === TOKEN_PATH) {
      const grantType = str(params, 'grant_type')
      if (grantType) record.grantType = grantType.slice(0, 200)
      const connection = str(params, 'connection')
      if (connection) record.connection = connection.slice(0, 200)
    }
    const scope = str(params, 'scope')
    if (scope) record.scope = scope.slice(0, 1000)

    const fault = takeFault(path)
    if (fault?.latencyMs) await delay(fault.latencyMs)
    if (res.destroyed) return
    if (fault?.reset) {
      record.status = 0
      req.socket.destroy()
      return
    }
    if (fault?.malformed) {
      reply({
        status: fault.status ?? 200,
        body: '{"access_token":"emu_at_trunc',
        raw: true,
        ...(fault.headers ? { headers: fault.headers } : {}),
      })
      return
    }
    if (fault && (fault.status !== undefined || fault.body !== undefined)) {
      const status = fault.status ?? 200
      const body = fault.body ?? faultError(status)
      reply({
        status,
        body,
        raw: typeof body === 'string',
        ...(fault.headers ? { headers: fault.headers } : {}),
      })
      return
    }
    const answer = handle(req, path, params)
    reply(fault?.headers ? { ...answer, headers: { ...answer.headers, ...fault.headers } } : answer)
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch(() => {
      if (!res.headersSent) send(res, oauthError(500, 'server_error', 'Internal Server Error'))
      else res.destroy()
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const host = config.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`

  let closing: Promise<void> | undefined
  const emulator: TokenVaultEmulator = {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t)
        timers.clear()
        server.close(() => resolve())
        server.closeAllConnections()
        for (const s of sockets) s.destroy()
      })
      return closing
    },
    approve(authReqId) {
      cibaStore().decide(authReqId, true)
    },
    deny(authReqId) {
      cibaStore().decide(authReqId, false)
    },
    pending() {
      return cibaStore().pending()
    },
    get requests() {
      return log.map((r) => ({ ...r }))
    },
    inject(fault) {
      const times = fault.times ?? 1
      if (!Number.isInteger(times) || times < 1) throw new TypeError('fault.times must be a positive integer')
      faults.push({ fault: { ...fault }, left: times })
    },
    clearFaults() {
      faults.length = 0
    },
    revoke(refreshToken) {
      if (!byRefresh.has(refreshToken)) return false
      revoked.add(refreshToken)
      return true
    },
  }
  return emulator
}
