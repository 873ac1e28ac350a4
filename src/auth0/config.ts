import { ConfigurationError } from '../errors.js'
import type { Auth0Options, ClientAuthMethod } from './types.js'

const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_post', 'client_secret_basic']

// Module-private: the client secret is reachable only through revealClientSecret(), which the
// package's own clients call when they authenticate. Nothing on the instance holds it.
const secrets = new WeakMap<Auth0Config, string>()

/** @internal The client secret of `config`, for the code that sends it. */
export function revealClientSecret(config: Auth0Config): string {
  const secret = secrets.get(config)
  if (secret === undefined) throw new TypeError('not an Auth0Config created by this package')
  return secret
}

/** Fully resolved values for {@link Auth0Config}. */
export interface Auth0ConfigInit {
  domain: string
  clientId: string
  clientSecret: string
  clientAuth?: ClientAuthMethod | undefined
}

/**
 * Resolved Auth0 settings. The client secret is held out of reach: it is not a property, so it
 * never appears in `JSON.stringify`, `util.inspect`, spreads or error messages.
 *
 * Usually made by {@link resolveAuth0Config}.
 */
export class Auth0Config {
  /** `https://tenant.auth0.com`, or `http://127.0.0.1:PORT` for a loopback emulator. */
  readonly origin: string
  /** `host[:port]`. */
  readonly domain: string
  /** The tenant's issuer identifier: `origin` + `/`. */
  readonly issuer: string
  readonly clientId: string
  /** @defaultValue `'client_secret_post'` */
  readonly clientAuth: ClientAuthMethod

  /** @throws {@link ConfigurationError} when a value is missing or unusable */
  constructor(init: Auth0ConfigInit) {
    const { origin, domain } = parseAuth0Domain(init.domain, 'domain')
    if (typeof init.clientId !== 'string' || init.clientId.trim() === '') {
      throw new ConfigurationError('Auth0 clientId is missing or empty')
    }
    if (typeof init.clientSecret !== 'string' || init.clientSecret === '') {
      throw new ConfigurationError('Auth0 clientSecret is missing or empty')
    }
    const clientAuth = init.clientAuth ?? 'client_secret_post'
    if (!CLIENT_AUTH_METHODS.includes(clientAuth)) {
      throw new ConfigurationError(
        `Auth0 clientAuth must be one of ${CLIENT_AUTH_METHODS.join(', ')}, got ${JSON.stringify(String(clientAuth)).slice(0, 64)}`,
      )
    }
    this.origin = origin
    this.domain = domain
    this.issuer = `${origin}/`
    this.clientId = init.clientId.trim()
    this.clientAuth = clientAuth
    secrets.set(this, init.clientSecret)
    Object.freeze(this)
  }

  /** Whether requests go over plain http (only ever to a loopback host). */
  get insecure(): boolean {
    return this.origin.startsWith('http:')
  }

  /** The public settings; never the secret. */
  toJSON(): Record<string, string> {
    return {
      origin: this.origin,
      domain: this.domain,
      issuer: this.issuer,
      clientId: this.clientId,
      clientAuth: this.clientAuth,
    }
  }
}

/**
 * Builds the Auth0 settings from `options`, each missing value read from `env`:
 * `AUTH0_DOMAIN`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`.
 *
 * `domain` may be a bare tenant domain (`https://` is implied) or a full origin. Plain `http://`
 * is accepted only for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`), such as the emulator.
 *
 * @param options - explicit values; they win over the environment
 * @param env - @defaultValue `process.env`
 * @throws {@link ConfigurationError} naming the missing variable, or explaining why a domain is refused
 *
 * @example
 * ```ts
 * const config = resolveAuth0Config()                        // from the environment
 * const local = resolveAuth0Config({ domain: 'http://127.0.0.1:4010', clientId: 'c', clientSecret: 's' })
 * ```
 */
export function resolveAuth0Config(
  options: Auth0Options | Auth0Config = {},
  env: NodeJS.ProcessEnv = process.env,
): Auth0Config {
  if (options instanceof Auth0Config) return options
  const domain = pick(options.domain, env.AUTH0_DOMAIN, 'domain', 'AUTH0_DOMAIN')
  const clientId = pick(options.clientId, env.AUTH0_CLIENT_ID, 'clientId', 'AUTH0_CLIENT_ID')
  const clientSecret = pick(
    options.clientSecret,
    env.AUTH0_CLIENT_SECRET,
    'clientSecret',
    'AUTH0_CLIENT_SECRET',
  )
  parseAuth0Domain(domain, options.domain !== undefined ? 'domain' : 'AUTH0_DOMAIN')
  return new Auth0Config({ domain, clientId, clientSecret, clientAuth: options.clientAuth })
}

function pick(
  explicit: string | undefined,
  fromEnv: string | undefined,
  option: string,
  variable: string,
): string {
  const value = explicit ?? fromEnv
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(
      `Auth0 ${option} is not set: pass auth0.${option} or set the ${variable} environment variable`,
    )
  }
  return value
}

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

/** @internal Parses a domain setting into origin and host. `label` names the setting in errors. */
export function parseAuth0Domain(value: string, label: string): { origin: string; domain: string } {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigurationError(`Auth0 ${label} is missing or empty`)
  }
  const text = value.trim()
  // Quote at most a short prefix: a mistyped setting could be a pasted secret.
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text)
  let url: URL
  try {
    url = new URL(hasScheme ? text : `https://${text}`)
  } catch {
    throw new ConfigurationError(`Auth0 ${label} ${shown} is not a valid domain or origin`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(`Auth0 ${label} ${shown} must use https (got ${url.protocol.slice(0, 16)})`)
  }
  if (
    url.username ||
    url.password ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  ) {
    throw new ConfigurationError(
      `Auth0 ${label} ${shown} must be a bare domain or an origin, without credentials, path, query or fragment`,
    )
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new ConfigurationError(
      `Auth0 ${label} ${shown} uses plain http, which is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https`,
    )
  }
  return { origin: url.origin, domain: url.host }
}
