/** A small in-memory stand-in for the vault's `exchange`, for the integrations' unit tests. */
import { StepUpAuthRequiredError, type TokenVaultGovernanceError } from '../src/errors.js'
import type { TokenVaultLike } from '../src/integrations/wrap.js'
import type { PolicyValidationResult } from '../src/policy/types.js'
import type { TokenVaultRequest, TokenVaultResponse } from '../src/vault/types.js'

export interface FakeVaultOptions {
  /** Throws this for a request, or returns undefined to grant. */
  deny?: (request: TokenVaultRequest) => TokenVaultGovernanceError | undefined
  /** Scopes that need a step-up, interrupt-mode style. */
  stepUpScopes?: readonly string[]
}

/** The token the fake issues: derived from the subject, so a test can tell whose it is. */
export function fakeToken(
  request: Pick<TokenVaultRequest, 'refreshToken' | 'accessToken' | 'connection'>,
): string {
  return `gho_${request.connection}_${request.refreshToken ?? request.accessToken}`
}

export class FakeVault implements TokenVaultLike {
  readonly requests: Omit<TokenVaultRequest, 'refreshToken' | 'accessToken'>[] = []
  readonly subjects: string[] = []
  readonly approved = new Set<string>()
  readonly started: string[] = []
  readonly #options: FakeVaultOptions
  #next = 0

  constructor(options: FakeVaultOptions = {}) {
    this.#options = options
  }

  async exchange(request: TokenVaultRequest): Promise<TokenVaultResponse> {
    const { refreshToken, accessToken, ...rest } = request
    this.requests.push(rest)
    this.subjects.push(refreshToken ?? accessToken ?? '')
    await Promise.resolve()
    const denial = this.#options.deny?.(request)
    if (denial) throw denial
    const stepUp = request.scopes.filter((s) => this.#options.stepUpScopes?.includes(s))
    if (stepUp.length > 0) {
      if (request.stepUpId === undefined || !this.started.includes(request.stepUpId)) {
        const id = `su-${++this.#next}`
        this.started.push(id)
        throw new StepUpAuthRequiredError(`step-up ${id} needs an approval`, {
          stepUpId: id,
          scopes: stepUp,
          bindingMessage: `${request.agentId} wants ${stepUp.join(' ')}`,
          connection: request.connection,
        })
      }
      if (!this.approved.has(request.stepUpId)) {
        throw new StepUpAuthRequiredError(`step-up ${request.stepUpId} is still waiting for a decision`, {
          stepUpId: request.stepUpId,
          scopes: stepUp,
          bindingMessage: 'waiting',
          connection: request.connection,
        })
      }
      this.approved.delete(request.stepUpId)
    }
    const response = {
      tokenType: 'Bearer',
      expiresIn: 3600,
      expiresAt: 1_700_000_000_000,
      scope: [...request.scopes],
      issuedTokenType: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
      connection: request.connection,
      cached: false,
      validation: {} as PolicyValidationResult,
    }
    Object.defineProperty(response, 'accessToken', { value: fakeToken(request), enumerable: false })
    return response as unknown as TokenVaultResponse
  }
}
