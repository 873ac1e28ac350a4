/**
 * The MACI scope policy (DESIGN §3): compiled from a constitution, decides requests offline.
 *
 * @packageDocumentation
 */
export { isValidScope } from '../constitution/names.js'
export { computePolicyDigest } from './digest.js'
export { MACIScopePolicy } from './maci-scope-policy.js'
export type {
  Decision,
  DecisionReason,
  ExcessScopesMode,
  PolicyMode,
  PolicyValidationResult,
  ReasonCode,
  ScopeRule,
  StepUpSettings,
  TokenScopeRequest,
  VaultReasonCode,
} from './types.js'
