/**
 * Runs the emulator in its own process for `scripts/load.ts`, so that the load figures measure the
 * process that governs (vault, cache, audit log) and not the stand-in for Auth0 next to it.
 * Speaks over the IPC channel: it sends `{ url }` once listening; it takes `{ inject: fault }`,
 * `{ count: id }` (answers `{ id, requests }`) and `{ close: true }`.
 */
import { type EmulatorFault, type EmulatorOptions, startTokenVaultEmulator } from '../src/emulator/index.js'

const send = (message: unknown) => process.send?.(message)
const options = JSON.parse(process.env.ACGS_EMULATOR_OPTIONS ?? '{}') as EmulatorOptions
const emulator = await startTokenVaultEmulator(options)
process.on('message', (message: { inject?: EmulatorFault; count?: number; close?: boolean }) => {
  if (message.inject) emulator.inject(message.inject)
  if (message.count !== undefined) send({ id: message.count, requests: emulator.requests.length })
  if (message.close) void emulator.close().then(() => process.exit(0))
})
process.on('disconnect', () => void emulator.close().then(() => process.exit(0)))
send({ url: emulator.url })
