/**
 * Packs the package, installs the tarball into an empty folder and uses it from there, as a new
 * user would. Installing compiles better-sqlite3, so this runs in CI (CI=true) or with
 * ACGS_PACK_TEST=1, and is skipped in a plain local `npm test`.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..')
const enabled = process.env.CI === 'true' || process.env.ACGS_PACK_TEST === '1'
const work = mkdtempSync(join(tmpdir(), 'acgs-pack-'))
const app = join(work, 'app')

function run(cmd: string, args: string[], cwd = app) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1' },
  })
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' }
}

afterAll(() => rmSync(work, { recursive: true, force: true }))

describe.runIf(enabled)('the packed tarball', () => {
  let tarball = ''

  beforeAll(() => {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
    const name = readdirSync(work).find((f) => f.endsWith('.tgz'))
    if (!name) throw new Error('npm pack produced no tarball')
    tarball = join(work, name)
    execFileSync('mkdir', ['-p', app])
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        allowScripts: { 'better-sqlite3': true },
      }),
    )
    const typescript = JSON.parse(
      execFileSync('node', ['-p', 'JSON.stringify(require("typescript/package.json").version)'], {
        cwd: root,
        encoding: 'utf8',
      }),
    ) as string
    execFileSync(
      'npm',
      ['install', '--no-audit', '--no-fund', tarball, `typescript@${typescript}`, '@types/node@20'],
      { cwd: app, encoding: 'utf8', stdio: 'pipe', timeout: 600_000 },
    )
  }, 660_000)

  it('ships only the build, the example constitution and the docs', () => {
    const list = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean)
    expect(list).toContain('package/dist/index.js')
    expect(list).toContain('package/dist/index.d.ts')
    expect(list).toContain('package/dist/cli/bin.js')
    expect(list).toContain('package/examples/constitution.yaml')
    expect(list).toContain('package/LICENSE')
    expect(list.some((f) => f.includes('/src/') || f.endsWith('.test.js') || f.includes('/test/'))).toBe(
      false,
    )
  })

  it('runs `npx acgs-auth0 --help`', () => {
    const r = run('npx', ['--no-install', 'acgs-auth0', '--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('Usage: acgs-auth0')
    for (const cmd of ['validate', 'check', 'diff', 'audit', 'emulator', 'demo'])
      expect(r.stdout).toContain(cmd)
  })

  it('runs `npx acgs-auth0 demo` in the empty folder', () => {
    const r = run('npx', ['--no-install', 'acgs-auth0', 'demo', '--json'])
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const report = JSON.parse(r.stdout) as { ok: boolean; steps: unknown[] }
    expect(report.ok).toBe(true)
    expect(report.steps.length).toBeGreaterThan(5)
    expect(run('npx', ['--no-install', 'acgs-auth0', 'audit', 'verify', 'acgs-audit.db']).status).toBe(0)
  })

  it('imports and type-checks as an ESM dependency, subpaths included', () => {
    writeFileSync(
      join(app, 'index.ts'),
      [
        "import { ConstitutionalTokenVault, MACIScopePolicy, TokenVaultGovernanceError } from 'acgs-auth0'",
        "import { startTokenVaultEmulator } from 'acgs-auth0/emulator'",
        "import type { TokenVaultRequest } from 'acgs-auth0'",
        "const policy: MACIScopePolicy = MACIScopePolicy.fromObject({ constitutional_hash: '608508a9bd224290', connections: { github: { EXECUTIVE: { permitted_scopes: ['repo:read'], high_risk_scopes: [] } } } })",
        'const vault = new ConstitutionalTokenVault({ policy, env: {} })',
        "const request: TokenVaultRequest = { agentId: 'planner', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:read'], refreshToken: 'rt' }",
        'const decision: string = vault.validate(request).decision',
        'export const used = [decision, startTokenVaultEmulator, TokenVaultGovernanceError]',
        '',
      ].join('\n'),
    )
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
        files: ['index.ts'],
      }),
    )
    const tsc = run('npx', ['--no-install', 'tsc', '-p', 'tsconfig.json'])
    expect(tsc.stdout + tsc.stderr).toBe('')
    expect(tsc.status).toBe(0)

    const node = run('node', [
      '--input-type=module',
      '-e',
      "const m = await import('acgs-auth0'); const p = m.MACIScopePolicy.fromObject({ constitutional_hash: '608508a9bd224290', connections: { github: { EXECUTIVE: { permitted_scopes: ['repo:read'], high_risk_scopes: [] } } } }); console.log(p.validate({ agentId: 'a', role: 'EXECUTIVE', connection: 'github', scopes: ['repo:read'] }).decision)",
    ])
    expect(node.stderr).toBe('')
    expect(node.stdout.trim()).toBe('allow')
  })
})
