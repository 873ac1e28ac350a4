import type { ConstitutionIssue } from '../errors.js'
import type { ExcessScopesMode, PolicyMode, ScopeRule, StepUpSettings } from '../policy/types.js'

/** Options of {@link parseConstitution} and {@link readConstitution}. */
export interface ParseOptions {
  /**
   * The largest text accepted, in UTF-8 bytes. Checked before parsing.
   *
   * @defaultValue 4 MiB (4,194,304 bytes)
   */
  maxBytes?: number
}

/**
 * A loaded constitution, normalized and deeply frozen: defaults filled in, scope lists
 * de-duplicated and sorted, role lists de-duplicated and sorted.
 */
export interface Constitution {
  /** The 16-hex-digit hash of the governing ACGS constitution. */
  readonly constitutionalHash: string
  /** @defaultValue `'enforce'` */
  readonly mode: PolicyMode
  /** @defaultValue `'deny'` */
  readonly excessScopes: ExcessScopesMode
  /** Agent id → the roles it may act in. Absent when the file has no `agents:` section. */
  readonly agents?: Readonly<Record<string, readonly string[]>>
  /** The `step_up:` section. Absent when the file has none (or an empty one). */
  readonly stepUp?: StepUpSettings
  /** Connection → role → rule. */
  readonly connections: Readonly<Record<string, Readonly<Record<string, ScopeRule>>>>
}

/** The result of loading a constitution: the constitution, the warnings, and where it came from. */
export interface ParsedConstitution {
  readonly constitution: Constitution
  /** Problems that do not stop loading (`custom_role`, `duplicate_scope`, `no_permitted_scopes`, ...). */
  readonly warnings: readonly ConstitutionIssue[]
  /** The file name or label the constitution was loaded from. */
  readonly source: string
}

/**
 * The codes a {@link ConstitutionIssue} may carry.
 *
 * Errors: `too_large`, `binary_content`, `too_deep`, `yaml_syntax`, `duplicate_key`,
 * `multiple_documents`, `alias_limit`, `empty_document`, `not_a_mapping`, `unknown_key`,
 * `missing_key`, `wrong_type`, `out_of_range`, `invalid_hash`, `invalid_mode`,
 * `invalid_excess_scopes`, `invalid_scope`, `invalid_role_name`, `invalid_connection_name`,
 * `invalid_agent_id`, `high_risk_not_permitted`, `agent_role_undefined`, `file_unreadable`.
 *
 * Warnings: `custom_role`, `duplicate_scope`, `no_permitted_scopes`, `yaml_warning`.
 */
export type ConstitutionIssueCode =
  | 'too_large'
  | 'binary_content'
  | 'too_deep'
  | 'yaml_syntax'
  | 'duplicate_key'
  | 'multiple_documents'
  | 'alias_limit'
  | 'empty_document'
  | 'not_a_mapping'
  | 'unknown_key'
  | 'missing_key'
  | 'wrong_type'
  | 'out_of_range'
  | 'invalid_hash'
  | 'invalid_mode'
  | 'invalid_excess_scopes'
  | 'invalid_scope'
  | 'invalid_role_name'
  | 'invalid_connection_name'
  | 'invalid_agent_id'
  | 'high_risk_not_permitted'
  | 'agent_role_undefined'
  | 'file_unreadable'
  | 'custom_role'
  | 'duplicate_scope'
  | 'no_permitted_scopes'
  | 'yaml_warning'
