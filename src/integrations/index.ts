/**
 * Agent integrations (core): govern any async function with the constitution, the ambient agent
 * context, and the credentials a governed function sees. The LangChain.js and Vercel AI SDK
 * adapters are separate entry points (`acgs-auth0/langchain`, `acgs-auth0/vercel-ai`) so that
 * this one never loads a framework.
 */
export {
  type AgentContext,
  getTokenVaultCredentials,
  runAsAgent,
  type TokenVaultCredentials,
} from './context.js'
export {
  type AgentIdentity,
  type ConstitutionalWrapper,
  type GovernanceResolvers,
  type GovernedFunction,
  type MaybePromise,
  type PolicyOrVault,
  type SubjectToken,
  type TokenVaultLike,
  type WithConstitutionalTokenVaultOptions,
  withConstitutionalTokenVault,
} from './wrap.js'
