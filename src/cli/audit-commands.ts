import type { RegisterCommands } from './context.js'

/** Adds this module's commands to the program. */
export const registerAuditCommands: RegisterCommands = (_program, _ctx) => {}
