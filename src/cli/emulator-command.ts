import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { type EmulatorConfig, EmulatorConfigError, parseEmulatorConfig } from '../emulator/config.js'
import { DEFAULT_EMULATOR_CONFIG } from '../emulator/default-config.js'
import { startTokenVaultEmulator } from '../emulator/server.js'
import { type CliContext, CliUsageError, ExitCode, printJson, type RegisterCommands } from './context.js'

interface EmulatorCommandOptions {
  config?: string
  port: string
  json?: boolean
}

async function loadConfig(file: string, cwd: string): Promise<EmulatorConfig> {
  let text: string
  try {
    text = await readFile(resolve(cwd, file), 'utf8')
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw new CliUsageError(
      `cannot read emulator config ${file}${typeof code === 'string' ? ` (${code})` : ''}`,
    )
  }
  let value: unknown
  try {
    value = parseYaml(text, { maxAliasCount: 100 })
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : 'parse error'
    throw new CliUsageError(`emulator config ${file} is not valid YAML or JSON: ${reason}`)
  }
  try {
    return parseEmulatorConfig(value, file)
  } catch (err) {
    if (err instanceof EmulatorConfigError) throw new CliUsageError(err.message)
    throw err
  }
}

function parsePort(raw: string): number {
  const port = Number(raw)
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new CliUsageError(`--port must be an integer 0-65535, got ${raw.slice(0, 20)}`)
  return port
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      done(signal)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

async function runEmulator(ctx: CliContext, options: EmulatorCommandOptions): Promise<void> {
  const port = parsePort(options.port)
  const config = options.config ? await loadConfig(options.config, ctx.io.cwd) : DEFAULT_EMULATOR_CONFIG
  const emulator = await startTokenVaultEmulator({ ...config, port })
  if (options.json) printJson(ctx, { url: emulator.url })
  else ctx.io.stdout(`${emulator.url}\n`)
  ctx.io.stderr(
    `Token Vault emulator listening (${options.config ? options.config : 'built-in demo config'}); set AUTH0_DOMAIN=${emulator.url}. Ctrl-C stops it.\n`,
  )
  await untilSignal()
  await emulator.close()
  ctx.exitCode = ExitCode.OK
}

/**
 * `acgs-auth0 emulator [--config FILE] [--port N] [--json]`: runs the Auth0-compatible emulator
 * until SIGINT or SIGTERM. Prints its URL (or `{ "url": ... }` with `--json`) on stdout. A config
 * file that cannot be read or does not check is a usage error (exit 2).
 */
export const registerEmulatorCommand: RegisterCommands = (program, ctx) => {
  program
    .command('emulator')
    .description('Run an Auth0-compatible Token Vault and CIBA emulator on loopback until SIGINT/SIGTERM')
    .option('--config <file>', 'YAML or JSON emulator configuration (default: the built-in demo tenant)')
    .option('--port <n>', 'TCP port, 0 for a free one', '0')
    .option('--json', 'print { "url": ... } as JSON')
    .action(async (options: EmulatorCommandOptions) => {
      await runEmulator(ctx, options)
    })
}
