import type { EmulatorConfig } from './config.js'

/**
 * The configuration `acgs-auth0 emulator` runs without `--config`; the same as
 * `examples/emulator.config.yaml`. Development values only: every secret here is public.
 */
export const DEFAULT_EMULATOR_CONFIG: EmulatorConfig = {
  clients: [{ clientId: 'demo-client', clientSecret: 'demo-client-secret' }],
  users: [
    {
      userId: 'auth0|alice',
      refreshToken: 'rt_alice_demo',
      accessToken: 'at_alice_demo',
      connections: {
        github: ['read:user', 'read:org', 'repo:read', 'repo:write', 'delete_repo'],
        'google-oauth2': [
          'https://www.googleapis.com/auth/calendar.readonly',
          'https://www.googleapis.com/auth/drive.readonly',
          'https://www.googleapis.com/auth/calendar.events',
        ],
        slack: ['channels:read', 'channels:history', 'chat:write', 'files:write'],
      },
      accounts: {
        github: { 'alice-work': ['read:user', 'repo:read'] },
      },
    },
    {
      userId: 'auth0|bob',
      refreshToken: 'rt_bob_demo',
      connections: {
        github: ['read:user', 'repo:read'],
        slack: ['channels:read'],
      },
    },
  ],
}
