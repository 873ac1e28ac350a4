/**
 * Loading a constitution (DESIGN §2): parse, check, normalize.
 *
 * @packageDocumentation
 */
export { constitutionFromObject } from './from-object.js'
export {
  isStandardRole,
  isValidConnectionName,
  isValidRoleName,
  isValidScope,
  STANDARD_ROLES,
} from './names.js'
export { DEFAULT_MAX_BYTES, parseConstitution } from './parse.js'
export { readConstitution } from './read.js'
export type { Constitution, ConstitutionIssueCode, ParsedConstitution, ParseOptions } from './types.js'
