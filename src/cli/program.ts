import { Command, CommanderError } from 'commander'
import { registerAuditCommands } from './audit-commands.js'
import { type CliContext, type CliIO, CliUsageError, ExitCode } from './context.js'
import { registerDemoCommand } from './demo-command.js'
import { registerEmulatorCommand } from './emulator-command.js'
import { registerPolicyCommands } from './policy-commands.js'

/** The process's own stdout, stderr, environment and working directory. */
export function processIO(): CliIO {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  }
}

/** Builds the `acgs-auth0` command tree. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command('acgs-auth0')
    .description('Constitutional scope governance for AI agents on Auth0 Token Vault')
    .exitOverride()
    .configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr })
    .showHelpAfterError()
  registerPolicyCommands(program, ctx)
  registerAuditCommands(program, ctx)
  registerEmulatorCommand(program, ctx)
  registerDemoCommand(program, ctx)
  return program
}

/**
 * Runs the CLI with `argv` (without the node and script paths) and resolves to the exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(['check', 'constitution.yaml', '--agent', 'planner', '--role', 'EXECUTIVE',
 *   '--connection', 'github', '--scopes', 'repo:read'])
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const ctx: CliContext = { io, exitCode: ExitCode.OK }
  const program = createProgram(ctx)
  try {
    await program.parseAsync([...argv], { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help']
      return benign.includes(err.code) ? ExitCode.OK : ExitCode.USAGE
    }
    if (err instanceof CliUsageError) {
      io.stderr(`acgs-auth0: ${err.message}\n`)
      return ExitCode.USAGE
    }
    throw err
  }
  return ctx.exitCode
}
