/**
 * Crash-test child: `node --import tsx test/helpers/hardening-exchange-child.ts EMULATOR_URL AUDIT_URL [IN_FLIGHT]`
 * (client secret and refresh token in `CHILD_CLIENT_SECRET` / `CHILD_REFRESH_TOKEN`) performs
 * governed exchanges forever, IN_FLIGHT at a time, and prints the fingerprint of each token as
 * soon as `exchange()` has released it. The parent kills it with SIGKILL and checks that every
 * printed fingerprint has its `granted` entry.
 */
import { fingerprintToken } from '../../src/audit/fingerprint.js'
import { ConstitutionalTokenVault, MACIScopePolicy, TokenAuditLog } from '../../src/index.js'

const [emulatorUrl, auditUrl, inFlightArg] = process.argv.slice(2)
const clientSecret = process.env.CHILD_CLIENT_SECRET
const refreshToken = process.env.CHILD_REFRESH_TOKEN
if (!emulatorUrl || !auditUrl || !clientSecret || !refreshToken) {
  throw new Error('usage: hardening-exchange-child.ts EMULATOR_URL AUDIT_URL [IN_FLIGHT]')
}
const policy = MACIScopePolicy.fromYamlString(
  `token_vault:
  constitutional_hash: "608508a9bd224290"
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
`,
  'child.yaml',
)
const audit = await TokenAuditLog.open(auditUrl)
const vault = new ConstitutionalTokenVault({
  policy,
  audit,
  env: {},
  auth0: { domain: emulatorUrl, clientId: 'crash-child', clientSecret },
  cache: false,
})
let i = 0
const worker = async () => {
  for (;;) {
    const n = i++
    const res = await vault.exchange({
      agentId: `agent-${n % 5}`,
      role: 'EXECUTIVE',
      connection: 'github',
      scopes: n % 2 ? ['repo:read'] : ['read:user', 'repo:read'],
      refreshToken,
      toolName: 'crash-test',
    })
    process.stdout.write(`${fingerprintToken(res.accessToken)}\n`)
  }
}
await Promise.all(Array.from({ length: Number(inFlightArg ?? '1') }, worker))
