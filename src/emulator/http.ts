import type { IncomingMessage } from 'node:http'

/** Largest request body read; Auth0's token endpoint bodies are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024

/** An answer to write: status, JSON (or raw) body, extra headers. */
export interface Answer {
  status: number
  body: unknown
  headers?: Record<string, string>
  /** Send `body` as it is (a string) instead of JSON-encoding it. */
  raw?: boolean
}

/** An Auth0-style OAuth error answer (`{ error, error_description }`). */
export function oauthError(
  status: number,
  error: string,
  description: string,
  headers?: Record<string, string>,
): Answer {
  return headers
    ? { status, body: { error, error_description: description }, headers }
    : { status, body: { error, error_description: description } }
}

/** Request parameters: form or JSON. Non-string JSON values are kept as they are. */
export type Params = Map<string, unknown>

export class BodyTooLargeError extends Error {}
export class BadBodyError extends Error {}

/** Beyond this, an oversized body is not even drained: the connection is destroyed. */
export const MAX_DRAIN_BYTES = 1024 * 1024

/**
 * Reads at most {@link MAX_BODY_BYTES}. A larger body is drained (so the client can read the 413)
 * and BodyTooLargeError thrown; beyond {@link MAX_DRAIN_BYTES} the socket is destroyed.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > MAX_DRAIN_BYTES) {
    req.socket.destroy()
    throw new BodyTooLargeError()
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_DRAIN_BYTES) {
      req.socket.destroy()
      throw new BodyTooLargeError()
    }
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES) throw new BodyTooLargeError()
  return Buffer.concat(chunks)
}

/**
 * Parses a form (`application/x-www-form-urlencoded`) or JSON (`application/json`) body. A
 * repeated form parameter is refused (RFC 6749 §3.2: parameters MUST NOT be included more than once).
 *
 * @throws BadBodyError
 */
export function parseParams(contentType: string | undefined, body: Buffer): Params {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
  const params: Params = new Map()
  if (body.length === 0) return params
  if (type === 'application/x-www-form-urlencoded') {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
      if (params.has(k)) throw new BadBodyError(`Parameter ${k} was included more than once`)
      params.set(k, v)
    }
    return params
  }
  if (type === 'application/json') {
    let value: unknown
    try {
      value = JSON.parse(body.toString('utf8'))
    } catch {
      throw new BadBodyError('Invalid JSON body')
    }
    if (!value || typeof value !== 'object' || Array.isArray(value))
      throw new BadBodyError('The body must be a JSON object')
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue
      params.set(k, typeof v === 'number' || typeof v === 'boolean' ? String(v) : v)
    }
    return params
  }
  throw new BadBodyError('Content-Type must be application/x-www-form-urlencoded or application/json')
}

/** A string parameter; `undefined` when absent, empty or not a string. */
export function str(params: Params, name: string): string | undefined {
  const v = params.get(name)
  return typeof v === 'string' && v !== '' ? v : undefined
}

/** Credentials from an HTTP Basic `Authorization` header (RFC 6749 §2.3.1: form-urlencoded id and secret). */
export type BasicCredentials = { clientId: string; clientSecret: string } | 'malformed' | undefined

export function parseBasic(header: string | undefined): BasicCredentials {
  if (!header) return undefined
  const match = /^Basic +([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header)
  if (!match?.[1]) return /^Basic\b/i.test(header) ? 'malformed' : undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return 'malformed'
  try {
    const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
    return { clientId: unform(decoded.slice(0, colon)), clientSecret: unform(decoded.slice(colon + 1)) }
  } catch {
    return 'malformed'
  }
}
