import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import { canonicalJson } from '../lib/canonical.js'
import type { AuditCheckpoint } from './types.js'

/** The bytes a checkpoint signature covers: the JCS of `{ seq, hash, timestamp, logId }`. */
export function checkpointPayload(c: Omit<AuditCheckpoint, 'signature'>): Buffer {
  return Buffer.from(
    canonicalJson({ seq: c.seq, hash: c.hash, timestamp: c.timestamp, logId: c.logId }),
    'utf8',
  )
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new TypeError(`${what} must be an Ed25519 key`)
  return key
}

/** An Ed25519 private key from a `KeyObject` or a PEM string. */
export function toPrivateKey(key: KeyObject | string): KeyObject {
  if (typeof key === 'string') {
    try {
      return requireEd25519(createPrivateKey(key), 'privateKey')
    } catch {
      // The parser's message is dropped: it never needs to echo key material.
      throw new TypeError('privateKey must be an Ed25519 private key (KeyObject or PEM)')
    }
  }
  if (typeof key !== 'object' || key === null || key.type !== 'private') {
    throw new TypeError('privateKey must be an Ed25519 private key (KeyObject or PEM)')
  }
  return requireEd25519(key, 'privateKey')
}

/** An Ed25519 public key from a `KeyObject` (public or private) or a PEM string. */
export function toPublicKey(key: KeyObject | string): KeyObject {
  try {
    const k =
      typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key
    return requireEd25519(k, 'publicKey')
  } catch {
    throw new TypeError('publicKey must be an Ed25519 public key (KeyObject or PEM)')
  }
}

/** Signs a checkpoint. */
export function signCheckpoint(
  c: Omit<AuditCheckpoint, 'signature'>,
  privateKey: KeyObject,
): AuditCheckpoint {
  const signature = sign(null, checkpointPayload(c), privateKey).toString('base64')
  return { seq: c.seq, hash: c.hash, timestamp: c.timestamp, logId: c.logId, signature }
}

const HEX64 = /^[0-9a-f]{64}$/

/** Checks a checkpoint's shape (a `TypeError` when it is not one) and its signature. */
export function checkCheckpointSignature(c: AuditCheckpoint, publicKey: KeyObject): boolean {
  if (
    typeof c !== 'object' ||
    c === null ||
    !Number.isSafeInteger(c.seq) ||
    c.seq < 1 ||
    typeof c.hash !== 'string' ||
    !HEX64.test(c.hash) ||
    typeof c.timestamp !== 'string' ||
    typeof c.logId !== 'string' ||
    typeof c.signature !== 'string'
  ) {
    throw new TypeError('checkpoint must be { seq, hash, timestamp, logId, signature }')
  }
  return verify(null, checkpointPayload(c), publicKey, Buffer.from(c.signature, 'base64'))
}
