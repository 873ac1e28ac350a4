import { ConstitutionError } from '../errors.js'
import { checkConstitution } from './check.js'
import type { ParsedConstitution } from './types.js'

const NO_POSITION = { line: 0, column: 0 }

/**
 * Checks a constitution given as a plain object (the same shape as the YAML: snake_case keys,
 * either form of root) with the same rules as {@link parseConstitution}, except that there is
 * no size limit and every issue has line and column 0.
 *
 * @param value - for example `{ token_vault: { constitutional_hash: '608508a9bd224290', connections: {...} } }`
 * @param source - a label used in every issue
 * @defaultValue source: `'<object>'`
 * @throws {@link ConstitutionError} listing every problem found
 */
export function constitutionFromObject(value: unknown, source = '<object>'): ParsedConstitution {
  let result: ReturnType<typeof checkConstitution>
  try {
    result = checkConstitution(value, source, () => NO_POSITION)
  } catch (err) {
    // a getter that throws, a revoked proxy, a cyclic or absurdly deep object
    throw new ConstitutionError(
      [
        {
          code: 'wrong_type',
          message: 'the object could not be read as a constitution (a getter threw or it nests too deeply)',
          source,
          line: 0,
          column: 0,
        },
      ],
      { cause: err },
    )
  }
  if (result.errors.length > 0 || !result.constitution) throw new ConstitutionError(result.errors)
  return Object.freeze({
    constitution: result.constitution,
    warnings: Object.freeze(result.warnings),
    source,
  })
}
