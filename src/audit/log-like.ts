import type { AuditEntryInput, TokenAccessAuditEntry } from './types.js'

/** The part of {@link TokenAuditLog} the vault writes to. */
export interface TokenAuditLogLike {
  append(entry: AuditEntryInput): Promise<TokenAccessAuditEntry>
}
