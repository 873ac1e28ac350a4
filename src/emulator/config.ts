import { z } from 'zod'
import type { EmulatorOptions } from './types.js'

const scopes = z.array(z.string().min(1))

const configSchema = z
  .object({
    port: z.number().int().min(0).max(65535).optional(),
    host: z.string().min(1).optional(),
    clients: z
      .array(z.object({ clientId: z.string().min(1), clientSecret: z.string().min(1) }).strict())
      .min(1),
    users: z.array(
      z
        .object({
          userId: z.string().min(1),
          refreshToken: z.string().min(1),
          accessToken: z.string().min(1).optional(),
          connections: z.record(z.string().min(1), scopes),
          accounts: z.record(z.string().min(1), z.record(z.string().min(1), scopes)).optional(),
        })
        .strict(),
    ),
    rateLimit: z
      .object({ max: z.number().int().min(1), perSeconds: z.number().positive() })
      .strict()
      .optional(),
    tokenExpiresIn: z.number().int().positive().optional(),
    ciba: z
      .object({
        interval: z.number().int().min(0).optional(),
        expiresIn: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

/** The checked, serializable part of {@link EmulatorOptions} (everything but `now`). */
export type EmulatorConfig = Omit<EmulatorOptions, 'now'>

/** The problems found in an emulator configuration, one line each (`path: message`). */
export class EmulatorConfigError extends TypeError {
  override name = 'EmulatorConfigError'
  readonly problems: readonly string[]

  constructor(source: string, problems: readonly string[]) {
    super(`invalid emulator configuration in ${source}: ${problems.join('; ')}`)
    this.problems = problems
  }
}

/**
 * Checks a configuration value (parsed YAML or JSON, or options passed in code) and returns it
 * typed. Unknown keys, wrong types, duplicate client ids and duplicate or shared subject tokens
 * are refused; messages name the offending path, never a secret value.
 *
 * @throws EmulatorConfigError
 */
export function parseEmulatorConfig(value: unknown, source = 'options'): EmulatorConfig {
  const { now: _now, ...rest } = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>
  const parsed = configSchema.safeParse(value && typeof value === 'object' ? rest : value)
  if (!parsed.success) {
    throw new EmulatorConfigError(
      source,
      parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    )
  }
  const config = parsed.data
  const problems: string[] = []
  const ids = new Set<string>()
  for (const [i, c] of config.clients.entries()) {
    if (ids.has(c.clientId)) problems.push(`clients.${i}.clientId: duplicate client id`)
    ids.add(c.clientId)
  }
  const tokens = new Set<string>()
  const userIds = new Set<string>()
  for (const [i, u] of config.users.entries()) {
    if (userIds.has(u.userId)) problems.push(`users.${i}.userId: duplicate user id`)
    userIds.add(u.userId)
    for (const [key, token] of [
      ['refreshToken', u.refreshToken],
      ['accessToken', u.accessToken],
    ] as const) {
      if (token === undefined) continue
      if (tokens.has(token)) problems.push(`users.${i}.${key}: token already used by another entry`)
      tokens.add(token)
    }
  }
  if (problems.length) throw new EmulatorConfigError(source, problems)
  return config as EmulatorConfig
}
