/**
 * The governed exchange (DESIGN §5): the one path by which an agent gets a token.
 *
 * @packageDocumentation
 */
export type { StepUpOptions, TokenVaultRequest, TokenVaultResponse } from './types.js'
export {
  ConstitutionalTokenVault,
  type ConstitutionalTokenVaultOptions,
  type InvalidateFilter,
} from './vault.js'
