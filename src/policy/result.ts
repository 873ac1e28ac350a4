import {
  ConstitutionalScopeViolation,
  InvalidTokenRequestError,
  MACIRoleAssignmentError,
  MACIRoleNotPermittedError,
  type TokenVaultGovernanceError,
} from '../errors.js'
import type { Decision, DecisionReason, PolicyValidationResult } from './types.js'

export const NONE: readonly string[] = Object.freeze([])

/** What the typed error of a denial is built from, so it is only built when someone asks. */
export type ErrorRecipe =
  | { kind: 'invalid_request'; message: string }
  | { kind: 'agent_role_not_assigned'; message: string; agentId: string; role: string }
  | { kind: 'role_not_permitted'; message: string; role: string; connection: string }
  | { kind: 'scope_violation'; message: string; deniedScopes: readonly string[] }

function buildError(recipe: ErrorRecipe): TokenVaultGovernanceError {
  switch (recipe.kind) {
    case 'invalid_request':
      return new InvalidTokenRequestError(recipe.message)
    case 'agent_role_not_assigned':
      return new MACIRoleAssignmentError(recipe.message, recipe.agentId, recipe.role)
    case 'role_not_permitted':
      return new MACIRoleNotPermittedError(recipe.message, recipe.role, recipe.connection)
    case 'scope_violation':
      return new ConstitutionalScopeViolation(recipe.message, recipe.deniedScopes)
  }
}

/**
 * The result of `validate()`. Every field is an own data property except `error`, a getter
 * that builds the typed error on first read: capturing a stack trace costs microseconds, far
 * more than the decision itself. `JSON.stringify(result)` includes `error` (through
 * {@link ValidationResult.toJSON}, which serializes it with the error's own `toJSON()`); a spread
 * (`{ ...result }`) copies the data fields only, so read `result.error` from the result itself.
 */
export class ValidationResult implements PolicyValidationResult {
  readonly permitted: boolean
  readonly decision: Decision
  readonly stepUpRequired: boolean
  readonly stepUpScopes: readonly string[]
  readonly deniedScopes: readonly string[]
  readonly grantedScopes: readonly string[]
  readonly reasons: readonly DecisionReason[]
  readonly policyDigest: string
  readonly constitutionalHash: string
  readonly shadow: boolean
  #recipe: ErrorRecipe | undefined
  #error: TokenVaultGovernanceError | undefined

  constructor(
    permitted: boolean,
    decision: Decision,
    grantedScopes: readonly string[],
    stepUpScopes: readonly string[],
    deniedScopes: readonly string[],
    reasons: readonly DecisionReason[],
    shadow: boolean,
    policyDigest: string,
    constitutionalHash: string,
    recipe: ErrorRecipe | undefined,
  ) {
    this.permitted = permitted
    this.decision = decision
    this.stepUpRequired = stepUpScopes.length > 0
    this.stepUpScopes = stepUpScopes
    this.deniedScopes = deniedScopes
    this.grantedScopes = grantedScopes
    this.reasons = reasons
    this.policyDigest = policyDigest
    this.constitutionalHash = constitutionalHash
    this.shadow = shadow
    this.#recipe = recipe
  }

  /** The typed error a denial would throw, or null when the request is let through. Built on first read. */
  get error(): TokenVaultGovernanceError | null {
    if (this.#recipe === undefined) return null
    this.#error ??= buildError(this.#recipe)
    return this.#error
  }

  /** A plain view with every field, `error` included (as the error's JSON form). */
  toJSON(): Record<string, unknown> {
    return {
      permitted: this.permitted,
      decision: this.decision,
      stepUpRequired: this.stepUpRequired,
      stepUpScopes: this.stepUpScopes,
      deniedScopes: this.deniedScopes,
      grantedScopes: this.grantedScopes,
      reasons: this.reasons,
      error: this.error,
      policyDigest: this.policyDigest,
      constitutionalHash: this.constitutionalHash,
      shadow: this.shadow,
    }
  }
}
