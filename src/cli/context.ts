import type { Command } from 'commander'

/** Where a CLI run reads and writes; injected so that tests need no globals. */
export interface CliIO {
  stdout: (text: string) => void
  stderr: (text: string) => void
  env: NodeJS.ProcessEnv
  cwd: string
}

/** The CLI's exit codes (DESIGN §9). */
export const ExitCode = {
  OK: 0,
  DENIED: 1,
  USAGE: 2,
  INVALID_CONSTITUTION: 3,
  INTEGRITY: 4,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** A usage error: a bad option, or a file or store that cannot be read. Exit code 2. */
export class CliUsageError extends Error {
  override name = 'CliUsageError'
}

/** What every command gets: the I/O and a place to put its exit code. */
export interface CliContext {
  io: CliIO
  exitCode: number
}

/** A module that adds commands to the program. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void

/** Writes one JSON document on stdout. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.io.stdout(`${JSON.stringify(value, null, 2)}\n`)
}
