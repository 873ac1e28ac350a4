#!/usr/bin/env node
import { runCli } from './program.js'

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const name = err instanceof Error ? err.name : typeof err
    const message = err instanceof Error ? err.message : ''
    process.stderr.write(`acgs-auth0: unexpected ${name}: ${message}\n`)
    process.exitCode = 1
  },
)
