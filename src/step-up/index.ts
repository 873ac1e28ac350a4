/**
 * Step-up approval (DESIGN §6): who may let an agent have a high-risk scope.
 *
 * @packageDocumentation
 */
export { BINDING_MESSAGE_MAX, buildBindingMessage, sanitizeBindingMessage } from './binding-message.js'
export { type ApprovalCallback, CallbackApprover, type CallbackApproverOptions } from './callback.js'
export { CibaApprover, type CibaApproverOptions } from './ciba-approver.js'
export {
  EXPIRED_BY,
  PendingApprovals,
  type PendingApprovalsOptions,
  type PendingStepUp,
  type PendingStepUpCancelled,
  type PendingStepUpDecided,
} from './pending.js'
export type {
  ApprovalOptions,
  Approver,
  ApproverIdentity,
  ApproverKind,
  StepUpDecision,
  StepUpRequest,
} from './types.js'
