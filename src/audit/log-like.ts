import type { AuditEntryInput, TokenAccessAuditEntry } from './types.js'

/** The part of {@link TokenAuditLog} the vault writes to. */
export interface TokenAuditLogLike {
  /** Appends one entry; resolves with the stored entry once it is durable. */
  append(entry: AuditEntryInput): Promise<TokenAccessAuditEntry>
}
