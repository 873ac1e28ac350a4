/**
 * acgs-auth0: a constitution decides which OAuth scopes each AI agent may obtain through
 * Auth0 Token Vault.
 *
 * @packageDocumentation
 */

// audit log
export {
  type AuditCheckpoint,
  type AuditEntryInput,
  type AuditHead,
  type AuditOpenOptions,
  type AuditOutcome,
  type AuditProblem,
  type AuditQuery,
  type AuditVerifyOptions,
  type AuditVerifyResult,
  checkpointPayload,
  fingerprintToken,
  parseAuditUrl,
  type RepairResult,
  repairTornTail,
  type TokenAccessAuditEntry,
  TokenAuditLog,
  type TokenAuditLogLike,
} from './audit/index.js'
// auth0 protocol layer
export {
  Auth0Config,
  type Auth0ConfigInit,
  type Auth0Options,
  type CibaAuthorization,
  type CibaAuthorizeParams,
  CibaClient,
  type CibaDecision,
  type CibaPollOptions,
  type CibaPollResult,
  type ClientAuthMethod,
  type ProcessExchangeOptions,
  processTokenVaultExchangeResponse,
  resolveAuth0Config,
  TokenVaultClient,
  type TokenVaultClientOptions,
  type TokenVaultExchangeParams,
  type TokenVaultExchangeResult,
} from './auth0/index.js'
// constitution
export {
  type Constitution,
  type ConstitutionIssueCode,
  constitutionFromObject,
  type ParsedConstitution,
  type ParseOptions,
  parseConstitution,
  readConstitution,
} from './constitution/index.js'
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
// integrations
export {
  type AgentContext,
  type AgentIdentity,
  type ConstitutionalWrapper,
  type GovernanceResolvers,
  type GovernedFunction,
  getTokenVaultCredentials,
  type MaybePromise,
  type PolicyOrVault,
  runAsAgent,
  type SubjectToken,
  type TokenVaultCredentials,
  type TokenVaultLike,
  type WithConstitutionalTokenVaultOptions,
  withConstitutionalTokenVault,
} from './integrations/index.js'
// policy
export {
  computePolicyDigest,
  type Decision,
  type DecisionReason,
  type ExcessScopesMode,
  isValidScope,
  MACIScopePolicy,
  type PolicyMode,
  type PolicyValidationResult,
  type ReasonCode,
  type ScopeRule,
  type StepUpSettings,
  type TokenScopeRequest,
  type VaultReasonCode,
} from './policy/index.js'
// step-up approval
export {
  type ApprovalCallback,
  type ApprovalOptions,
  type Approver,
  type ApproverIdentity,
  type ApproverKind,
  BINDING_MESSAGE_MAX,
  buildBindingMessage,
  CallbackApprover,
  type CallbackApproverOptions,
  CibaApprover,
  type CibaApproverOptions,
  EXPIRED_BY,
  PendingApprovals,
  type PendingApprovalsOptions,
  type PendingStepUp,
  type PendingStepUpCancelled,
  type PendingStepUpDecided,
  type StepUpDecision,
  type StepUpRequest,
  sanitizeBindingMessage,
} from './step-up/index.js'
// the governed exchange
export {
  ConstitutionalTokenVault,
  type ConstitutionalTokenVaultOptions,
  type InvalidateFilter,
  type StepUpOptions,
  type TokenVaultRequest,
  type TokenVaultResponse,
} from './vault/index.js'
