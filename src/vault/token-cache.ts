import * as crypto from 'node:crypto'
import { createHash } from 'node:crypto'

/** What identifies one cached token. The subject token is kept only as a hash. */
export interface TokenCacheKeyParts {
  subjectTokenType: 'refresh_token' | 'access_token'
  subjectToken: string
  connection: string
  loginHint?: string | undefined
  /** The requested scopes; order and duplicates do not matter. */
  scopes: readonly string[]
}

/** A computed cache key with the parts `invalidate()` filters on. */
export interface TokenCacheKey {
  readonly key: string
  readonly subjectHash: string
  readonly connection: string
  readonly loginHint: string | undefined
}

/** Filters of {@link TokenCache.invalidate}; every given field must match. */
export interface TokenCacheFilter {
  subjectHash?: string | undefined
  connection?: string | undefined
  loginHint?: string | undefined
}

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  /** @defaultValue 1000 */
  maxEntries?: number | undefined
  /** A token is reused until `expiresAt - skewMs`. @defaultValue 60_000 */
  skewMs?: number | undefined
  /** @defaultValue `Date.now` */
  now?: (() => number) | undefined
}

interface Entry<V> {
  readonly meta: TokenCacheKey
  readonly value: V
  readonly expiresAt: number
}

interface Flight<V> {
  readonly meta: TokenCacheKey
  readonly promise: Promise<V>
  /** Set by `invalidate()` while the call is in flight: its result is not stored. */
  stale: boolean
}

/** Where a value returned by {@link TokenCache.getOrLoad} came from. */
export type TokenCacheSource = 'hit' | 'shared' | 'loaded'

const SUBJECT_DOMAIN = 'acgs-auth0/token-cache-subject/v1\u0000'

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object; fall back to createHash.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash
const sha256 = oneShot
  ? (text: string) => oneShot('sha256', text, 'hex')
  : (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/** One-way hash of a subject token, so the cache never keys on the token itself. */
export function hashSubject(type: 'refresh_token' | 'access_token', token: string): string {
  return sha256(`${SUBJECT_DOMAIN}${type}\u0000${token}`)
}

/**
 * {@link hashSubject} with the last `max` answers remembered, per subject token type: an agent
 * usually presents the same subject token call after call, and a SHA-256 through the binding
 * costs about a microsecond while a `Map` lookup of the same string costs tens of nanoseconds.
 * The remembered subject tokens are held in this private map only (the caller's request holds
 * them anyway); the oldest is forgotten first and `clear()` forgets them all.
 */
export class SubjectHashes {
  readonly #refresh = new Map<string, string>()
  readonly #access = new Map<string, string>()
  readonly #max: number

  constructor(max = 1024) {
    this.#max = max
  }

  hash(type: 'refresh_token' | 'access_token', token: string): string {
    const memo = type === 'refresh_token' ? this.#refresh : this.#access
    let hash = memo.get(token)
    if (hash === undefined) {
      hash = hashSubject(type, token)
      if (memo.size >= this.#max) memo.delete(memo.keys().next().value as string)
      memo.set(token, hash)
    }
    return hash
  }

  /** Forgets one subject token. */
  delete(type: 'refresh_token' | 'access_token', token: string): void {
    const memo = type === 'refresh_token' ? this.#refresh : this.#access
    memo.delete(token)
  }

  clear(): void {
    this.#refresh.clear()
    this.#access.clear()
  }
}

/** Builds the cache key: subject hash, connection, login hint and the sorted, de-duplicated scope set. */
export function tokenCacheKey(parts: TokenCacheKeyParts): TokenCacheKey {
  return cacheKeyOf(
    hashSubject(parts.subjectTokenType, parts.subjectToken),
    parts.connection,
    parts.loginHint,
    parts.scopes,
  )
}

/**
 * {@link tokenCacheKey} from an already computed subject hash. Every variable part is written
 * with its length in front, so the key is unambiguous whatever characters the parts hold (and
 * plain concatenation is several times cheaper than `JSON.stringify` of the parts).
 */
export function cacheKeyOf(
  subjectHash: string,
  connection: string,
  loginHint: string | undefined,
  scopes: readonly string[],
): TokenCacheKey {
  const set = scopeSet(scopes)
  let key = `${subjectHash}|${connection.length}:${connection}|${loginHint === undefined ? '-' : `${loginHint.length}:${loginHint}`}|${set.length}`
  for (let i = 0; i < set.length; i++) {
    const scope = set[i] as string
    key += `|${scope.length}:${scope}`
  }
  return { key, subjectHash, connection, loginHint }
}

/** The scopes sorted and de-duplicated; already strictly ascending (the usual case) needs no copy. */
function scopeSet(scopes: readonly string[]): readonly string[] {
  for (let i = 1; i < scopes.length; i++) {
    if (!((scopes[i - 1] as string) < (scopes[i] as string))) return [...new Set(scopes)].sort()
  }
  return scopes
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError')
}

/**
 * A bounded LRU cache of live tokens with single-flight loading: concurrent misses for the same
 * key share one load, and a failed load is not remembered.
 */
export class TokenCache<V extends { readonly expiresAt: number }> {
  readonly #entries = new Map<string, Entry<V>>()
  readonly #flights = new Map<string, Flight<V>>()
  readonly #maxEntries: number
  readonly #skewMs: number
  readonly #now: () => number
  /** The most recently used entry: a hit on it (the usual case under load) needs no reordering. */
  #newest: Entry<V> | undefined

  constructor(options: TokenCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 1000
    const skewMs = options.skewMs ?? 60_000
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new TypeError('maxEntries must be a positive integer')
    if (!Number.isFinite(skewMs) || skewMs < 0) throw new TypeError('skewMs must be a non-negative number')
    this.#maxEntries = maxEntries
    this.#skewMs = skewMs
    this.#now = options.now ?? Date.now
  }

  /** Number of live-or-not-yet-pruned entries. */
  get size(): number {
    return this.#entries.size
  }

  /** The live value for `key`, or undefined. A hit becomes the most recently used entry. */
  get(key: TokenCacheKey): V | undefined {
    const entry = this.#entries.get(key.key)
    if (!entry) return undefined
    if (this.#now() >= entry.expiresAt - this.#skewMs) {
      this.#entries.delete(key.key)
      if (entry === this.#newest) this.#newest = undefined
      return undefined
    }
    if (entry !== this.#newest) {
      this.#entries.delete(key.key)
      this.#entries.set(key.key, entry)
      this.#newest = entry
    }
    return entry.value
  }

  /**
   * Returns the live value for `key`, or joins the load already in flight for it, or starts
   * `load()`. The shared load is not tied to any one caller's `signal`: a caller that aborts stops
   * waiting, the others keep theirs.
   */
  async getOrLoad(
    key: TokenCacheKey,
    load: () => Promise<V>,
    signal?: AbortSignal,
  ): Promise<{ value: V; source: TokenCacheSource }> {
    const hit = this.get(key)
    if (hit !== undefined) return { value: hit, source: 'hit' }
    let flight = this.#flights.get(key.key)
    let source: TokenCacheSource = 'shared'
    if (!flight) {
      source = 'loaded'
      flight = this.#startFlight(key, load)
    }
    const value = await (signal ? raceAbort(flight.promise, signal) : flight.promise)
    return { value, source }
  }

  #startFlight(key: TokenCacheKey, load: () => Promise<V>): Flight<V> {
    const flight: { meta: TokenCacheKey; promise: Promise<V>; stale: boolean } = {
      meta: key,
      promise: Promise.resolve(undefined as never),
      stale: false,
    }
    this.#flights.set(key.key, flight)
    flight.promise = (async () => {
      try {
        const value = await load()
        if (!flight.stale) this.#store(key, value)
        return value
      } finally {
        if (this.#flights.get(key.key) === flight) this.#flights.delete(key.key)
      }
    })()
    // A flight whose every waiter gave up must not surface as an unhandled rejection.
    flight.promise.catch(() => {})
    return flight
  }

  #store(key: TokenCacheKey, value: V): void {
    if (this.#now() >= value.expiresAt - this.#skewMs) return
    const entry = { meta: key, value, expiresAt: value.expiresAt }
    this.#entries.delete(key.key)
    this.#entries.set(key.key, entry)
    this.#newest = entry
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done) break
      this.#entries.delete(oldest.value)
    }
  }

  /** Drops every entry (and marks every in-flight load) matching `filter`; returns how many entries were dropped. */
  invalidate(filter: TokenCacheFilter = {}): number {
    const matches = (meta: TokenCacheKey) =>
      (filter.subjectHash === undefined || meta.subjectHash === filter.subjectHash) &&
      (filter.connection === undefined || meta.connection === filter.connection) &&
      (filter.loginHint === undefined || meta.loginHint === filter.loginHint)
    let dropped = 0
    for (const [k, entry] of this.#entries) {
      if (matches(entry.meta)) {
        this.#entries.delete(k)
        if (entry === this.#newest) this.#newest = undefined
        dropped++
      }
    }
    for (const [k, flight] of this.#flights) {
      if (matches(flight.meta)) {
        flight.stale = true
        this.#flights.delete(k)
      }
    }
    return dropped
  }

  /** Drops everything. */
  clear(): void {
    this.#entries.clear()
    this.#newest = undefined
    for (const flight of this.#flights.values()) flight.stale = true
    this.#flights.clear()
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

export { raceAbort }
