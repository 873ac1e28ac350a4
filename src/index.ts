/**
 * acgs-auth0: a constitution decides which OAuth scopes each AI agent may obtain through
 * Auth0 Token Vault.
 *
 * @packageDocumentation
 */

// errors
export {
  AgentContextMissingError,
  AuditIntegrityError,
  AuditWriteError,
  ConfigurationError,
  ConstitutionalHashMismatchError,
  ConstitutionalScopeViolation,
  ConstitutionError,
  type ConstitutionIssue,
  type ErrorCode,
  ExcessScopesError,
  type GovernanceErrorOptions,
  InvalidTokenRequestError,
  MACIRoleAssignmentError,
  MACIRoleNotPermittedError,
  RateLimitedError,
  type StepUpAuthRequiredDetails,
  StepUpAuthRequiredError,
  StepUpDeniedError,
  TokenVaultExchangeError,
  type TokenVaultExchangeErrorDetails,
  TokenVaultGovernanceError,
} from './errors.js'

// constitution + policy (section owned by the policy module)

// auth0 protocol layer (section owned by the auth0 module)

// audit log (section owned by the audit module)

// vault + step-up (section owned by the vault module)

// integrations (section owned by the integrations module)
