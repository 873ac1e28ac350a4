/**
 * Internal helpers shared by the Auth0 clients: bounded body reading, sanitizing upstream text,
 * mapping every failure to `TokenVaultExchangeError`, per-attempt timeouts and retries.
 */
import * as oauth from 'oauth4webapi'
import { TokenVaultExchangeError } from '../errors.js'
import { sanitizeFreeText } from '../lib/secret.js'
import { type Auth0Config, revealClientSecret } from './config.js'

/** Largest response body read from Auth0; anything longer is refused unread. */
export const MAX_BODY_BYTES = 64 * 1024
const MAX_ERROR_CODE = 64
const MAX_DESCRIPTION = 256

/** @internal The Authorization Server metadata of a tenant, built from its domain (no discovery). */
export function authorizationServer(config: Auth0Config): oauth.AuthorizationServer {
  return {
    issuer: config.issuer,
    token_endpoint: `${config.origin}/oauth/token`,
    backchannel_authentication_endpoint: `${config.origin}/bc-authorize`,
    // Auth0 signs ID tokens with RS256 or HS256 per application; the signature is not checked
    // here (the token arrives over the authenticated TLS channel, OIDC Core §3.1.3.7).
    id_token_signing_alg_values_supported: ['RS256', 'HS256', 'PS256'],
  }
}

/** @internal The oauth4webapi client authentication for `config`. */
export function clientAuthentication(config: Auth0Config): oauth.ClientAuth {
  const secret = revealClientSecret(config)
  return config.clientAuth === 'client_secret_basic'
    ? oauth.ClientSecretBasic(secret)
    : oauth.ClientSecretPost(secret)
}

/**
 * @internal Every form in which a secret could come back from a server that echoes its input:
 * as sent, percent-encoded, form-encoded, and inside the HTTP Basic credentials.
 */
export function secretVariants(config: Auth0Config, extra: Iterable<string | undefined>): string[] {
  const out = new Set<string>()
  const add = (s: string | undefined) => {
    if (!s || s.length < 4) return
    out.add(s)
    out.add(encodeURIComponent(s))
    out.add(new URLSearchParams({ s }).toString().slice(2))
  }
  const secret = revealClientSecret(config)
  add(secret)
  for (const s of extra) add(s)
  const basic = Buffer.from(
    `${new URLSearchParams({ s: config.clientId }).toString().slice(2)}:${new URLSearchParams({ s: secret }).toString().slice(2)}`,
  ).toString('base64')
  out.add(basic)
  out.add(Buffer.from(`${config.clientId}:${secret}`).toString('base64'))
  // Longest first, so that a variant containing another is replaced whole.
  return [...out].sort((a, b) => b.length - a.length)
}

/**
 * @internal Redacts the known secrets and anything token-like, then keeps printable ASCII only
 * and bounds the length.
 */
export function sanitizeUpstreamText(text: string, secrets: readonly string[], max: number): string {
  return sanitizeFreeText(text, secrets, max)
}

/**
 * @internal Reads at most {@link MAX_BODY_BYTES} of a body; `undefined` when it is longer.
 * Rejects with `signal.reason` when `signal` aborts, whatever `fetch` made the body.
 */
export async function readBoundedText(response: Response, signal?: AbortSignal): Promise<string | undefined> {
  const body = response.body
  if (body === null) return ''
  const length = Number(response.headers.get('content-length') ?? Number.NaN)
  if (length <= MAX_BODY_BYTES) return raceAbort(response.text(), signal)
  if (length > MAX_BODY_BYTES) {
    await body.cancel().catch(() => {})
    return undefined
  }
  const reader = body.getReader()
  const onAbort = () => {
    reader.cancel(signal?.reason).catch(() => {})
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      if (signal?.aborted) throw signal.reason
      const { done, value } = await reader.read()
      if (signal?.aborted) throw signal.reason
      if (done) break
      size += value.byteLength
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {})
        return undefined
      }
      chunks.push(value)
    }
    return chunks.length === 1 ? decoder.decode(chunks[0]) : decoder.decode(Buffer.concat(chunks))
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

const decoder = new TextDecoder()

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts. */
async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  promise.catch(() => {})
  if (signal.aborted) throw signal.reason
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort)
  }
}

/** @internal `JSON.parse` that returns `undefined` for anything but a top-level object. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** @internal Whether a failure with this HTTP status may succeed when tried again. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599)
}

function localErrorFor(status: number): string {
  if (status === 429) return 'too_many_requests'
  if (status >= 500) return 'server_error'
  return 'invalid_response'
}

/** What a request is, for error messages. */
export interface Operation {
  /** e.g. `Token Vault exchange`, `CIBA authorization request`. */
  label: string
  /** Every form of every secret sent with the request. */
  secrets: readonly string[]
}

/**
 * @internal An {@link Operation} whose secret variants are worked out only when an error needs
 * them (never on the success path).
 */
export function operation(
  label: string,
  config: Auth0Config,
  extra: readonly (string | undefined)[],
): Operation {
  let memo: string[] | undefined
  return {
    label,
    get secrets() {
      memo ??= secretVariants(config, extra)
      return memo
    },
  }
}

/**
 * @internal Maps a failed answer to `TokenVaultExchangeError`. `body` is the raw text already
 * read (so that an error body is parsed whatever its content type), `cause` the library's error.
 */
export function httpFailure(
  op: Operation,
  status: number,
  body: string | undefined,
  cause: unknown,
  contentType: string | null,
): TokenVaultExchangeError {
  const retryable = isRetryableStatus(status)
  let error: string | undefined
  let description: string | undefined
  if (cause instanceof oauth.ResponseBodyError) {
    error = cause.error
    const d: unknown = cause.error_description
    if (typeof d === 'string') description = d
  } else if (body !== undefined && status !== 200) {
    const json = parseJsonObject(body)
    if (json && typeof json.error === 'string' && json.error !== '') {
      error = json.error
      if (typeof json.error_description === 'string') description = json.error_description
    }
  }
  if (error !== undefined) {
    const code = sanitizeUpstreamText(error, op.secrets, MAX_ERROR_CODE)
    const text =
      description === undefined ? undefined : sanitizeUpstreamText(description, op.secrets, MAX_DESCRIPTION)
    return new TokenVaultExchangeError(
      `${op.label} failed: HTTP ${status} ${code}${text ? `: ${text}` : ''}`,
      { status, error: code, errorDescription: text, retryable },
      { cause },
    )
  }
  const what =
    body === undefined
      ? `a body over ${MAX_BODY_BYTES} bytes`
      : body === ''
        ? 'an empty body'
        : `a body that is not an OAuth error (content-type ${sanitizeUpstreamText(contentType ?? 'none', op.secrets, 64)})`
  return new TokenVaultExchangeError(
    `${op.label} failed: HTTP ${status} with ${what}`,
    { status, error: localErrorFor(status), errorDescription: undefined, retryable },
    { cause },
  )
}

/** @internal A 200 answer that is not an acceptable success. */
export function invalidSuccess(op: Operation, reason: string, cause?: unknown): TokenVaultExchangeError {
  return new TokenVaultExchangeError(
    `${op.label} failed: the success response was refused: ${reason}`,
    { status: 200, error: 'invalid_response', errorDescription: reason, retryable: false },
    { cause },
  )
}

/** @internal The error for a request that got no answer. */
export function transportFailure(
  op: Operation,
  kind: 'timeout' | 'aborted' | 'network_error',
  cause: unknown,
  timeoutMs?: number,
): TokenVaultExchangeError {
  const message =
    kind === 'timeout'
      ? `${op.label} timed out after ${timeoutMs} ms`
      : kind === 'aborted'
        ? `${op.label} was aborted`
        : `${op.label} failed: no response from Auth0 (network error)`
  return new TokenVaultExchangeError(
    message,
    { status: 0, error: kind, errorDescription: undefined, retryable: kind !== 'aborted' },
    { cause },
  )
}

/**
 * @internal How long the server asked to wait: `Retry-After` (seconds or an HTTP date), else
 * `x-ratelimit-reset` (unix seconds). `undefined` when it said nothing usable.
 */
export function retryHintMs(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim()
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000
    const at = Date.parse(retryAfter)
    if (!Number.isNaN(at)) return Math.max(0, at - now)
  }
  const reset = headers.get('x-ratelimit-reset')?.trim()
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now)
  return undefined
}

/** Retry and timeout settings shared by the Auth0 clients. */
export interface RequestPolicy {
  fetch: typeof fetch | undefined
  timeoutMs: number
  maxRetries: number
  retryBaseDelayMs: number
  retryMaxDelayMs: number
  random: () => number
  now: () => number
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

/**
 * @internal What each Auth0 client holds: the settings, the request policy, and oauth4webapi's
 * descriptions of the server, the client and its authentication.
 */
export class Auth0Endpoint {
  readonly as: oauth.AuthorizationServer
  readonly client: oauth.Client
  readonly auth: oauth.ClientAuth

  constructor(
    readonly config: Auth0Config,
    readonly policy: RequestPolicy,
  ) {
    this.as = authorizationServer(config)
    this.client = { client_id: config.clientId }
    this.auth = clientAuthentication(config)
  }

  /** oauth4webapi's options for one attempt. */
  requestOptions(signal: AbortSignal) {
    return {
      signal,
      [oauth.customFetch]: this.policy.fetch ?? globalThis.fetch,
      [oauth.allowInsecureRequests]: this.config.insecure,
    }
  }
}

/** @internal A pending abortable sleep on the global (fake-timer friendly) `setTimeout`. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * @internal Runs `attempt` with a per-attempt timeout and retries retryable failures with
 * exponential backoff and full jitter, honouring the server's `Retry-After` / `x-ratelimit-reset`
 * when it is within `retryMaxDelayMs` (a longer hint ends the retries at once). Throws only
 * `TokenVaultExchangeError`.
 */
export async function withRetries<T>(
  op: Operation,
  policy: RequestPolicy,
  callerSignal: AbortSignal | undefined,
  attempt: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  for (let n = 0; ; n++) {
    if (callerSignal?.aborted) throw transportFailure(op, 'aborted', callerSignal.reason)
    let failure: TokenVaultExchangeError
    let hint: number | undefined
    const controller = new AbortController()
    const timer = setTimeout(
      () => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')),
      policy.timeoutMs,
    )
    const signal = callerSignal ? AbortSignal.any([callerSignal, controller.signal]) : controller.signal
    try {
      // A fetch that ignores its signal must not outlive the timeout: race the attempt against it.
      return await raceAbort(attempt(signal), signal)
    } catch (err) {
      if (callerSignal?.aborted) throw transportFailure(op, 'aborted', callerSignal.reason)
      const answered = err instanceof TokenVaultExchangeError && err.status !== 0
      if (answered) {
        failure = err
        hint = (err as { [RETRY_HINT]?: number })[RETRY_HINT]
      } else if (controller.signal.aborted) {
        failure = transportFailure(op, 'timeout', err, policy.timeoutMs)
      } else if (err instanceof TokenVaultExchangeError) {
        failure = err
      } else {
        failure = transportFailure(op, 'network_error', err)
      }
    } finally {
      clearTimeout(timer)
    }
    if (!failure.retryable || n >= policy.maxRetries) throw failure
    if (hint !== undefined && hint > policy.retryMaxDelayMs) throw failure
    const backoff = Math.min(policy.retryMaxDelayMs, policy.retryBaseDelayMs * 2 ** n)
    const delay = hint ?? Math.floor(policy.random() * backoff)
    try {
      await policy.sleep(delay, callerSignal)
    } catch (err) {
      throw transportFailure(op, 'aborted', err)
    }
  }
}

/** @internal Non-enumerable slot on a failure carrying the server's wait hint in ms. */
export const RETRY_HINT: unique symbol = Symbol('retryHintMs')

/** @internal Attaches the wait hint of `headers` to a retryable failure. */
export function withHint(
  err: TokenVaultExchangeError,
  headers: Headers,
  now: number,
): TokenVaultExchangeError {
  if (err.retryable && err.status !== 0) {
    const hint = retryHintMs(headers, now)
    if (hint !== undefined) Object.defineProperty(err, RETRY_HINT, { value: hint, enumerable: false })
  }
  return err
}

/**
 * @internal Reads a response (bounded), lets oauth4webapi's `process` judge it, and maps every
 * failure to `TokenVaultExchangeError`. `check` adds this package's stricter checks of a 200
 * body (it returns a reason to refuse, or `undefined`). Returns the library's result and the raw
 * JSON object, whose field types the library may have coerced.
 */
export async function processResponse<T>(
  op: Operation,
  response: Response,
  now: number,
  process: (response: Response) => Promise<T>,
  check: (raw: Record<string, unknown>) => string | undefined,
  signal?: AbortSignal,
): Promise<{ value: T; raw: Record<string, unknown> }> {
  const { status, headers } = response
  if (status !== 200) {
    let text: string | undefined
    try {
      text = await readBoundedText(response, signal)
    } catch (err) {
      throw transportFailure(op, signal?.aborted ? 'aborted' : 'network_error', err)
    }
    let cause: unknown
    if (text !== undefined) {
      try {
        await process(rebuild(text, response))
      } catch (err) {
        cause = err
      }
    }
    throw withHint(httpFailure(op, status, text, cause, headers.get('content-type')), headers, now)
  }
  // A success is read once: the library gets this response, whose json() reads the body bounded
  // and keeps a shallow copy of the object before the library coerces fields (expires_in,
  // token_type) so that the stricter checks below see what the server actually sent.
  let text: string | undefined
  let raw: Record<string, unknown> | undefined
  let readFailed = false
  let tooLarge = false
  Object.defineProperty(response, 'json', {
    configurable: true,
    value: async () => {
      try {
        text = await readBoundedText(response, signal)
      } catch (err) {
        readFailed = true
        throw err
      }
      if (text === undefined) {
        tooLarge = true
        throw new RangeError('body too large')
      }
      const value: unknown = JSON.parse(text)
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) raw = { ...value }
      return value
    },
  })
  let value: T
  try {
    value = await process(response)
  } catch (err) {
    if (readFailed) throw transportFailure(op, signal?.aborted ? 'aborted' : 'network_error', err)
    if (tooLarge) throw httpFailure(op, status, undefined, err, headers.get('content-type'))
    if (raw === undefined) {
      throw invalidSuccess(
        op,
        text === '' || text === undefined ? 'the body is empty' : 'the body is not a JSON object',
        err,
      )
    }
    const reason = check(raw)
    const message = err instanceof Error ? err.message : 'unknown error'
    throw invalidSuccess(op, reason ?? sanitizeUpstreamText(message, op.secrets, MAX_DESCRIPTION), err)
  }
  if (raw === undefined) throw invalidSuccess(op, 'the body is not a JSON object')
  const reason = check(raw)
  if (reason !== undefined) throw invalidSuccess(op, reason)
  return { value, raw }
}

function rebuild(text: string, response: Response): Response {
  const nullBody = [101, 204, 205, 304].includes(response.status)
  // A success only needs its content type; error answers keep every header (WWW-Authenticate...).
  const contentType = response.headers.get('content-type')
  const headers =
    response.status === 200
      ? contentType === null
        ? undefined
        : { 'content-type': contentType }
      : response.headers
  return new Response(nullBody || text === '' ? null : text, {
    status: response.status,
    statusText: response.statusText,
    ...(headers ? { headers } : {}),
  })
}
