import { describe, expect, it } from 'vitest'
import {
  ConstitutionalScopeViolation,
  ConstitutionError,
  InvalidTokenRequestError,
  MACIRoleAssignmentError,
  MACIRoleNotPermittedError,
} from '../errors.js'
import { MACIScopePolicy } from './index.js'

const QUICK_START = `
token_vault:
  constitutional_hash: "608508a9bd224290"
  agents:
    planner: [EXECUTIVE]
    builder: [IMPLEMENTER]
  step_up:
    approvers: [JUDICIAL]
    timeout_seconds: 300
  connections:
    github:
      EXECUTIVE:
        permitted_scopes: ["read:user", "repo:read"]
        high_risk_scopes: []
      IMPLEMENTER:
        permitted_scopes: ["read:user", "repo:read", "repo:write"]
        high_risk_scopes: ["repo:write"]
        rate_limit: { max: 60, per_seconds: 60 }
`

const policy = MACIScopePolicy.fromYamlString(QUICK_START, 'constitution.yaml')

describe('quick start', () => {
  it('permits planner/EXECUTIVE repo:read on github', () => {
    const r = policy.validate({
      agentId: 'planner',
      role: 'EXECUTIVE',
      connection: 'github',
      scopes: ['repo:read'],
    })
    expect(r).toMatchObject({ permitted: true, decision: 'allow', stepUpRequired: false, shadow: false })
    expect(r.grantedScopes).toEqual(['repo:read'])
    expect(r.error).toBeNull()
    expect(r.policyDigest).toBe(policy.policyDigest)
    expect(r.constitutionalHash).toBe('608508a9bd224290')
  })

  it('permits builder/IMPLEMENTER repo:write after step-up', () => {
    const r = policy.validate({
      agentId: 'builder',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
    })
    expect(r.permitted).toBe(true)
    expect(r.decision).toBe('step_up')
    expect(r.stepUpRequired).toBe(true)
    expect(r.stepUpScopes).toEqual(['repo:write'])
    expect(r.reasons.map((x) => x.code)).toEqual(['step_up_required'])
  })

  it('denies EXECUTIVE repo:write with a ConstitutionalScopeViolation naming the scope', () => {
    const r = policy.validate({
      agentId: 'planner',
      role: 'EXECUTIVE',
      connection: 'github',
      scopes: ['repo:read', 'repo:write'],
    })
    expect(r).toMatchObject({ permitted: false, decision: 'deny', stepUpRequired: false, shadow: false })
    expect(r.deniedScopes).toEqual(['repo:write'])
    expect(r.grantedScopes).toEqual([])
    expect(r.error).toBeInstanceOf(ConstitutionalScopeViolation)
    expect((r.error as ConstitutionalScopeViolation).deniedScopes).toEqual(['repo:write'])
    expect(r.error?.message).toContain('repo:write')
    expect(r.error?.code).toBe('ERR_SCOPE_VIOLATION')
  })

  it('denies JUDICIAL on github with MACIRoleNotPermittedError', () => {
    const open = MACIScopePolicy.fromYamlString(QUICK_START.replace(/ {2}agents:\n.*\n.*\n/, ''))
    const r = open.validate({
      agentId: 'judge',
      role: 'JUDICIAL',
      connection: 'github',
      scopes: ['repo:read'],
    })
    expect(r.permitted).toBe(false)
    expect(r.reasons[0]?.code).toBe('role_not_permitted')
    expect(r.error).toBeInstanceOf(MACIRoleNotPermittedError)
    expect(r.error).toMatchObject({ role: 'JUDICIAL', connection: 'github', code: 'ERR_ROLE_NOT_PERMITTED' })
  })
})

describe('MACIScopePolicy.validate', () => {
  const base = { agentId: 'planner', role: 'EXECUTIVE', connection: 'github' }

  it.each([
    [{ ...base, agentId: '', scopes: ['repo:read'] }, 'no agent id'],
    [{ ...base, scopes: [] }, 'no scope'],
    [{ ...base, scopes: ['repo read'] }, 'RFC 6749'],
    [{ ...base, scopes: ['repo\u0000read'] }, 'RFC 6749'],
    [{ ...base, scopes: ['rеpo:read'] }, 'RFC 6749'],
  ])('refuses a malformed request %#', (request, text) => {
    const r = policy.validate(request)
    expect(r.permitted).toBe(false)
    expect(r.reasons[0]?.code).toBe('invalid_request')
    expect(r.error).toBeInstanceOf(InvalidTokenRequestError)
    expect(r.error?.message).toContain(text)
  })

  it('refuses an agent acting in a role it is not assigned', () => {
    const r = policy.validate({ ...base, role: 'IMPLEMENTER', scopes: ['repo:read'] })
    expect(r.reasons[0]?.code).toBe('agent_role_not_assigned')
    expect(r.error).toBeInstanceOf(MACIRoleAssignmentError)
    expect(policy.validate({ ...base, agentId: 'stranger', scopes: ['repo:read'] }).permitted).toBe(false)
  })

  it('denies unknown connections and roles, matching role names exactly', () => {
    const open = MACIScopePolicy.fromObject({
      constitutional_hash: '608508a9bd224290',
      connections: { github: { EXECUTIVE: { permitted_scopes: ['repo:read'] } } },
    })
    expect(open.validate({ ...base, connection: 'slack', scopes: ['repo:read'] }).reasons[0]?.code).toBe(
      'role_not_permitted',
    )
    expect(open.validate({ ...base, role: 'executive', scopes: ['repo:read'] }).permitted).toBe(false)
    expect(open.validate({ ...base, scopes: ['repo:read'] }).permitted).toBe(true)
  })

  it('folds duplicate scopes and lists every denied scope', () => {
    const r = policy.validate({ ...base, scopes: ['repo:read', 'repo:read', 'a', 'b', 'a'] })
    expect(r.deniedScopes).toEqual(['a', 'b'])
    expect(r.reasons.map((x) => x.scope)).toEqual(['a', 'b'])
    expect(policy.validate({ ...base, scopes: ['repo:read', 'repo:read'] }).grantedScopes).toEqual([
      'repo:read',
    ])
  })

  it('shadow mode reports denials but lets them through; malformed requests are still refused', () => {
    const shadow = MACIScopePolicy.fromYamlString(QUICK_START.replace('agents:', 'mode: shadow\n  agents:'))
    const r = shadow.validate({ ...base, scopes: ['repo:read', 'repo:write'] })
    expect(r).toMatchObject({ permitted: true, shadow: true, decision: 'deny', error: null })
    expect(r.deniedScopes).toEqual(['repo:write'])
    expect(r.reasons[0]?.code).toBe('scope_violation')
    const stepped = shadow.validate({
      agentId: 'planner',
      role: 'IMPLEMENTER',
      connection: 'github',
      scopes: ['repo:write'],
    })
    expect(stepped).toMatchObject({
      permitted: true,
      shadow: true,
      stepUpRequired: true,
      stepUpScopes: ['repo:write'],
    })
    expect(shadow.validate({ ...base, scopes: [] })).toMatchObject({ permitted: false, shadow: false })
    expect(shadow.validate({ ...base, scopes: ['repo:read'] })).toMatchObject({
      permitted: true,
      shadow: false,
    })
  })

  it('builds the error lazily, once, and includes it in JSON', () => {
    const r = policy.validate({ ...base, scopes: ['repo:write'] })
    expect(r.error).toBeInstanceOf(ConstitutionalScopeViolation)
    expect(r.error).toBe(r.error)
    const copy = { ...r }
    expect(copy).toMatchObject({ permitted: false, decision: 'deny', deniedScopes: ['repo:write'] })
    const json = JSON.parse(JSON.stringify(r))
    expect(json.error).toMatchObject({ code: 'ERR_SCOPE_VIOLATION', deniedScopes: ['repo:write'] })
    expect(json.permitted).toBe(false)
  })
})

describe('MACIScopePolicy properties', () => {
  it('exposes the compiled policy', () => {
    expect(policy.connections).toEqual(['github'])
    expect(policy.roles).toEqual(['EXECUTIVE', 'IMPLEMENTER'])
    expect(policy.mode).toBe('enforce')
    expect(policy.excessScopes).toBe('deny')
    expect(policy.agents?.get('planner')).toEqual(['EXECUTIVE'])
    expect(policy.stepUp).toEqual({ approvers: ['JUDICIAL'], timeoutSeconds: 300 })
    expect(policy.getRule('github', 'IMPLEMENTER')).toEqual({
      permittedScopes: ['read:user', 'repo:read', 'repo:write'],
      highRiskScopes: ['repo:write'],
      rateLimit: { max: 60, perSeconds: 60 },
    })
    expect(policy.getRule('github', 'JUDICIAL')).toBeUndefined()
    expect(policy.isApproverRole('JUDICIAL')).toBe(true)
    expect(policy.isApproverRole('EXECUTIVE')).toBe(false)
    expect(policy.isApproverRole(undefined)).toBe(false)
    expect(policy.policyDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(policy.source).toBe('constitution.yaml')
  })

  it('approvers default to anyone', () => {
    const p = MACIScopePolicy.fromObject({ constitutional_hash: '608508a9bd224290', connections: {} })
    expect(p.isApproverRole('EXECUTIVE')).toBe(true)
    expect(p.stepUp).toEqual({})
    expect(p.agents).toBeUndefined()
  })

  it('fromYaml reads a file and reports an unreadable one', async () => {
    await expect(MACIScopePolicy.fromYaml('/nonexistent/constitution.yaml')).rejects.toMatchObject({
      issues: [{ code: 'file_unreadable', source: '/nonexistent/constitution.yaml' }],
    })
    await expect(MACIScopePolicy.fromYaml('/nonexistent/x.yaml')).rejects.toBeInstanceOf(ConstitutionError)
  })
})
