import { resolve } from 'node:path'
import { Option } from 'commander'
import { parseAuditUrl } from '../audit/index.js'
import { type DemoReport, formatDemoTable, runDemo } from '../demo/demo.js'
import { AuditIntegrityError, AuditWriteError } from '../errors.js'
import type { MACIScopePolicy } from '../policy/index.js'
import { CliUsageError, ExitCode, printJson, type RegisterCommands } from './context.js'
import { loadPolicy } from './load.js'
import { reportInvalid } from './policy-commands.js'

/** `acgs-auth0 demo`: the multi-agent story against a local emulator. */
export const registerDemoCommand: RegisterCommands = (program, ctx) => {
  program
    .command('demo')
    .description('run a short multi-agent story against a local Auth0 emulator and audit it')
    .addOption(
      new Option('--audit <store>', 'audit store URL; a bare path means SQLite').default('./acgs-audit.db'),
    )
    .option('--constitution <file>', 'constitution to load (default: the bundled example)')
    .option('--json', 'print one machine-readable report instead of progress and a table')
    .action(async (opts: { audit: string; constitution?: string; json?: boolean }) => {
      const { io } = ctx
      // A constitution the user names is checked first, with the exit codes of the policy
      // commands: 2 when it cannot be read, 3 when it does not load.
      let policy: MACIScopePolicy | undefined
      if (opts.constitution !== undefined) {
        const loaded = await loadPolicy(ctx, opts.constitution)
        if (!loaded.ok) {
          reportInvalid(ctx, opts, opts.constitution, loaded.error)
          return
        }
        policy = loaded.policy
      }
      const controller = new AbortController()
      const onSignal = () => controller.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        const audit = /^(memory|jsonl|sqlite):/.test(opts.audit)
          ? opts.audit
          : `sqlite:${resolve(io.cwd, opts.audit)}`
        try {
          parseAuditUrl(audit)
        } catch (err) {
          throw new CliUsageError(`cannot use audit store ${opts.audit}: ${(err as Error).message}`)
        }
        let report: DemoReport
        try {
          report = await runDemo({
            audit,
            constitution: opts.constitution ? resolve(io.cwd, opts.constitution) : undefined,
            policy,
            progress: opts.json ? undefined : (l) => io.stdout(`${l}\n`),
            signal: controller.signal,
          })
        } catch (err) {
          // An existing store that does not verify is not appended to: an integrity failure.
          if (err instanceof AuditIntegrityError) {
            io.stderr(`acgs-auth0: audit store ${opts.audit} does not verify: ${err.message}\n`)
            ctx.exitCode = ExitCode.INTEGRITY
            return
          }
          // A store that cannot be opened is the caller's to fix.
          if (err instanceof AuditWriteError) {
            throw new CliUsageError(`cannot use audit store ${opts.audit}: ${err.message}`)
          }
          throw err
        }
        if (opts.json) {
          printJson(ctx, report)
        } else {
          io.stdout(`\n${formatDemoTable(report)}\n\n`)
          io.stdout(
            `audit log: ${report.audit.url} (${report.audit.entries} entries, chain ${report.audit.verified ? 'verified' : 'BROKEN'})\n`,
          )
          if (report.checkpoint) {
            io.stdout(
              `verify it: npx acgs-auth0 audit verify ${report.audit.url} --checkpoint ${report.checkpoint.file} --public-key ${report.checkpoint.publicKeyFile}\n`,
            )
          }
        }
        ctx.exitCode = report.ok ? ExitCode.OK : ExitCode.INTEGRITY
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
    })
}
