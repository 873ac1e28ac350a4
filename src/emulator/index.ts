/**
 * An Auth0-compatible tenant on loopback (subpath `acgs-auth0/emulator`): Token Vault token
 * exchange, CIBA back-channel login, per-client rate limits and fault injection, for
 * development, demos and tests.
 *
 * @packageDocumentation
 */
export { type EmulatorConfig, EmulatorConfigError, parseEmulatorConfig } from './config.js'
export { DEFAULT_EMULATOR_CONFIG } from './default-config.js'
export { startTokenVaultEmulator } from './server.js'
export type {
  EmulatorClient,
  EmulatorFault,
  EmulatorOptions,
  EmulatorPendingRequest,
  EmulatorRequestRecord,
  EmulatorUser,
  TokenVaultEmulator,
} from './types.js'
