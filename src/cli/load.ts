/** Reading files for the CLI: a file that cannot be read is a usage error naming it. */
import { open } from 'node:fs/promises'
import { resolve } from 'node:path'
import { ConstitutionError } from '../errors.js'
import { MACIScopePolicy } from '../policy/index.js'
import { type CliContext, CliUsageError } from './context.js'

/** The default size limit of a constitution (DESIGN §2). */
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024

/** A file's text (cut after `limit + 1` bytes) and its full size in bytes. */
export interface TextFile {
  text: string
  size: number
}

/**
 * Reads a text file relative to the CLI's working directory, at most `limit + 1` bytes, so
 * that an oversized file is refused by size without reading gigabytes first.
 */
export async function readTextFile(ctx: CliContext, file: string, limit: number): Promise<TextFile> {
  const path = resolve(ctx.io.cwd, file)
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(path, 'r')
    const stat = await handle.stat()
    if (!stat.isFile()) throw new CliUsageError(`cannot read ${file}: not a regular file`)
    const size = Math.min(stat.size, limit + 1)
    const buf = Buffer.alloc(size)
    let read = 0
    while (read < size) {
      const { bytesRead } = await handle.read(buf, read, size - read, read)
      if (bytesRead === 0) break
      read += bytesRead
    }
    return { text: buf.subarray(0, read).toString('utf8'), size: stat.size }
  } catch (err) {
    if (err instanceof CliUsageError) throw err
    const code = (err as { code?: unknown }).code
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err)
    throw new CliUsageError(`cannot read ${file}: ${why}`)
  } finally {
    await handle?.close()
  }
}

/** A constitution that loaded, or the issues that kept it from loading. */
export type LoadResult = { ok: true; policy: MACIScopePolicy } | { ok: false; error: ConstitutionError }

/** Loads a constitution file; an unreadable file throws {@link CliUsageError}. */
export async function loadPolicy(
  ctx: CliContext,
  file: string,
  maxBytes = DEFAULT_MAX_BYTES,
): Promise<LoadResult> {
  const { text, size } = await readTextFile(ctx, file, maxBytes)
  if (size > maxBytes) {
    const message = `the constitution is ${size} bytes, over the limit of ${maxBytes} bytes (raise it with --max-bytes)`
    return {
      ok: false,
      error: new ConstitutionError([{ code: 'too_large', message, source: file, line: 0, column: 0 }]),
    }
  }
  try {
    return { ok: true, policy: MACIScopePolicy.fromYamlString(text, file, { maxBytes }) }
  } catch (err) {
    if (err instanceof ConstitutionError) return { ok: false, error: err }
    throw err
  }
}
