import { open } from 'node:fs/promises'
import { ConstitutionError } from '../errors.js'
import { parseConstitution, resolveMaxBytes, tooLarge } from './parse.js'
import type { ParsedConstitution, ParseOptions } from './types.js'

/**
 * Reads a constitution file (UTF-8 YAML) and parses it with {@link parseConstitution}. The file
 * size is checked before its content is read, and text that is not valid UTF-8 is refused as
 * `binary_content`.
 *
 * @param path - the file to read; also the `source` of every issue
 * @throws {@link ConstitutionError} with code `file_unreadable` when the file cannot be read, or
 * the issues {@link parseConstitution} finds
 *
 * @example
 * ```ts
 * const { constitution, warnings } = await readConstitution('constitution.yaml')
 * ```
 */
export async function readConstitution(path: string, options?: ParseOptions): Promise<ParsedConstitution> {
  const maxBytes = resolveMaxBytes(options)
  let bytes: Buffer
  try {
    const handle = await open(path, 'r')
    try {
      const { size } = await handle.stat()
      if (size > maxBytes) throw new ConstitutionError([tooLarge(size, maxBytes, path)])
      // read to the end, but never more than one byte past the limit: the size may change
      // between stat and read, and pipes and devices report no size at all
      const chunks: Buffer[] = []
      let length = 0
      for (;;) {
        const chunk = Buffer.alloc(Math.min(Math.max(size - length, 64 * 1024), maxBytes + 1 - length))
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null)
        if (bytesRead === 0) break
        chunks.push(chunk.subarray(0, bytesRead))
        length += bytesRead
        if (length > maxBytes) throw new ConstitutionError([tooLarge(length, maxBytes, path)])
      }
      bytes = Buffer.concat(chunks, length)
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof ConstitutionError) throw err
    const code = (err as { code?: unknown }).code
    throw new ConstitutionError(
      [
        {
          code: 'file_unreadable',
          message: `cannot read the constitution file${typeof code === 'string' ? ` (${code})` : ''}`,
          source: path,
          line: 0,
          column: 0,
        },
      ],
      { cause: err },
    )
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    const lossy = new TextDecoder('utf-8').decode(bytes)
    const offset = lossy.indexOf('\uFFFD')
    const before = lossy.slice(0, Math.max(offset, 0))
    const line = before.split('\n').length
    const column = before.length - before.lastIndexOf('\n')
    throw new ConstitutionError([
      {
        code: 'binary_content',
        message: 'the file is not valid UTF-8: expected UTF-8 YAML text (is this a binary file?)',
        source: path,
        line,
        column,
      },
    ])
  }
  return parseConstitution(text, path, options)
}
