/**
 * The Auth0 protocol layer: configuration, the Token Vault exchange and CIBA, on oauth4webapi.
 *
 * @packageDocumentation
 */
export {
  CIBA_DEFAULT_INTERVAL_SECONDS,
  CIBA_GRANT_TYPE,
  CIBA_SLOW_DOWN_SECONDS,
  type CibaAuthorization,
  type CibaAuthorizeParams,
  CibaClient,
  type CibaDecision,
  type CibaPollOptions,
  type CibaPollResult,
} from './ciba-client.js'
export { Auth0Config, type Auth0ConfigInit, resolveAuth0Config } from './config.js'
export {
  FEDERATED_ACCESS_TOKEN_TYPE,
  type ProcessExchangeOptions,
  processTokenVaultExchangeResponse,
  TOKEN_VAULT_GRANT_TYPE,
  TokenVaultClient,
  type TokenVaultClientOptions,
} from './token-vault-client.js'
export type {
  Auth0Options,
  ClientAuthMethod,
  TokenVaultExchangeParams,
  TokenVaultExchangeResult,
} from './types.js'
