import { open, writeFile } from 'node:fs/promises'
import { parseAuditUrl } from './log.js'

/** What {@link repairTornTail} did. */
export interface RepairResult {
  /** Whether a fragment was moved out of the log. */
  repaired: boolean
  /** Bytes moved out. */
  bytes: number
  /** Where the fragment was saved, when there was one. */
  savedTo: string | null
}

/**
 * Moves an unterminated last line out of a `jsonl:` log (into `PATH.torn-<epoch ms>`), so that
 * the log can be appended to again after a crash. Only that fragment is touched: it can never be
 * an acknowledged entry, because an append resolves only after its whole line, newline included,
 * has been written and fsync'ed. Any other damage is left for `verify()` to report. `sqlite:`
 * logs need no repair (SQLite rolls back an incomplete transaction itself).
 *
 * @param url - a `jsonl:PATH` audit URL
 */
export async function repairTornTail(url: string): Promise<RepairResult> {
  const { kind, path } = parseAuditUrl(url)
  if (kind !== 'jsonl') return { repaired: false, bytes: 0, savedTo: null }
  const fh = await open(path, 'r+')
  try {
    const { size } = await fh.stat()
    if (size === 0) return { repaired: false, bytes: 0, savedTo: null }
    const window = 1 << 16
    let keep = -1
    for (let end = size; end > 0 && keep < 0; end -= window) {
      const start = Math.max(0, end - window)
      const buf = Buffer.alloc(end - start)
      await fh.read(buf, 0, buf.length, start)
      const nl = buf.lastIndexOf(0x0a)
      if (nl >= 0) keep = start + nl + 1
      if (start === 0 && keep < 0) keep = 0
    }
    if (keep === size) return { repaired: false, bytes: 0, savedTo: null }
    const fragment = Buffer.alloc(size - keep)
    await fh.read(fragment, 0, fragment.length, keep)
    const savedTo = `${path}.torn-${Date.now()}`
    await writeFile(savedTo, fragment, { flag: 'wx', mode: 0o600, flush: true })
    await fh.truncate(keep)
    await fh.sync()
    return { repaired: true, bytes: fragment.length, savedTo }
  } finally {
    await fh.close()
  }
}
