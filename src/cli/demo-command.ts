import { resolve } from 'node:path'
import { Option } from 'commander'
import { formatDemoTable, runDemo } from '../demo/demo.js'
import { ExitCode, printJson, type RegisterCommands } from './context.js'

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
      const controller = new AbortController()
      const onSignal = () => controller.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        const audit = /^(memory|jsonl|sqlite):/.test(opts.audit)
          ? opts.audit
          : `sqlite:${resolve(io.cwd, opts.audit)}`
        const report = await runDemo({
          audit,
          constitution: opts.constitution ? resolve(io.cwd, opts.constitution) : undefined,
          progress: opts.json ? undefined : (l) => io.stdout(`${l}\n`),
          signal: controller.signal,
        })
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
