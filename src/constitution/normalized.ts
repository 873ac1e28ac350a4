import type { Constitution } from './types.js'

/**
 * Constitutions built by this module's normalizers: deeply frozen, every list sorted and free of
 * duplicates. Consumers (the policy digest) may skip re-checking those invariants for them.
 */
const NORMALIZED = new WeakSet<Constitution>()

/** @internal */
export function markNormalized(constitution: Constitution): Constitution {
  NORMALIZED.add(constitution)
  return constitution
}

/** @internal Whether `constitution` came from a normalizer of this module (so it is sorted and frozen). */
export function isNormalized(constitution: Constitution): boolean {
  return NORMALIZED.has(constitution)
}
