import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { TokenAuditLog } from '../audit/log.js'
import { type RepairResult, repairTornTail } from '../audit/repair.js'
import type { AuditCheckpoint, AuditOutcome, AuditQuery, TokenAccessAuditEntry } from '../audit/types.js'
import { AuditIntegrityError } from '../errors.js'
import { type CliContext, CliUsageError, ExitCode, printJson, type RegisterCommands } from './context.js'
import { columns } from './format.js'

/**
 * Resolves STORE (`sqlite:PATH`, `jsonl:PATH`, or a bare path meaning `sqlite:`) and opens it
 * read-only: a missing store is a usage error, never a new empty database.
 */
function storeUrl(ctx: CliContext, store: string): string {
  if (store.startsWith('memory:'))
    throw new CliUsageError('a memory: audit store only lives inside one process')
  const m = /^(sqlite|jsonl):(.+)$/.exec(store)
  const kind = m?.[1] ?? 'sqlite'
  const path = resolve(ctx.io.cwd, m?.[2] ?? store)
  if (!existsSync(path)) throw new CliUsageError(`cannot read audit store ${store}: no such file`)
  return `${kind}:${path}`
}

async function openStore(ctx: CliContext, store: string): Promise<TokenAuditLog> {
  const url = storeUrl(ctx, store)
  try {
    return await TokenAuditLog.open(url, { readOnly: true })
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new CliUsageError(`cannot read audit store ${store}: ${reason}`)
  }
}

async function readText(ctx: CliContext, file: string, what: string): Promise<string> {
  try {
    return await readFile(resolve(ctx.io.cwd, file), 'utf8')
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw new CliUsageError(`cannot read ${what} ${file}${typeof code === 'string' ? ` (${code})` : ''}`)
  }
}

async function withStore<T>(
  ctx: CliContext,
  store: string,
  fn: (log: TokenAuditLog) => Promise<T>,
): Promise<T> {
  const log = await openStore(ctx, store)
  try {
    return await fn(log)
  } catch (err) {
    // Bad filters, keys or checkpoint files are the caller's mistake.
    if (err instanceof TypeError) throw new CliUsageError(err.message)
    throw err
  } finally {
    await log.close()
  }
}

// Entries may carry any text; a terminal must never interpret it.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g

function cell(value: string | null | undefined, max = 48): string {
  if (value === null || value === undefined || value === '') return '-'
  const safe = value.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe
}

function entryRow(e: TokenAccessAuditEntry): string[] {
  return [
    String(e.seq),
    e.timestamp,
    e.outcome,
    cell(e.agentId),
    cell(e.role),
    cell(e.connection),
    cell(e.requestedScopes.join(' '), 60),
    cell(e.toolName),
  ]
}

const HEADER = ['SEQ', 'TIMESTAMP', 'OUTCOME', 'AGENT', 'ROLE', 'CONNECTION', 'SCOPES', 'TOOL']

function printTable(ctx: CliContext, entries: readonly TokenAccessAuditEntry[], header = true): void {
  if (entries.length === 0) return
  const rows = entries.map(entryRow)
  ctx.io.stdout(columns(header ? [HEADER, ...rows] : rows))
}

function parseCount(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new CliUsageError(`${name} must be a non-negative integer, got "${raw}"`)
  return Number(raw)
}

interface VerifyOptions {
  checkpoint?: string
  publicKey?: string
  json?: boolean
}

async function verifyCommand(ctx: CliContext, store: string, o: VerifyOptions): Promise<void> {
  if ((o.checkpoint === undefined) !== (o.publicKey === undefined)) {
    throw new CliUsageError('--checkpoint and --public-key go together')
  }
  let checkpoint: AuditCheckpoint | undefined
  let publicKey: string | undefined
  if (o.checkpoint !== undefined && o.publicKey !== undefined) {
    const text = await readText(ctx, o.checkpoint, 'checkpoint')
    try {
      checkpoint = JSON.parse(text) as AuditCheckpoint
    } catch {
      throw new CliUsageError(`checkpoint ${o.checkpoint} is not JSON`)
    }
    publicKey = await readText(ctx, o.publicKey, 'public key')
  }
  const result = await withStore(ctx, store, (log) => log.verify({ checkpoint, publicKey }))
  ctx.exitCode = result.ok ? ExitCode.OK : ExitCode.INTEGRITY
  if (o.json) return printJson(ctx, result)
  const at = `head seq ${result.head.seq} ${result.head.hash}`
  if (result.ok) {
    const cp = checkpoint ? `, extends checkpoint at seq ${checkpoint.seq}` : ''
    ctx.io.stdout(`ok: ${result.entries} entries verified${cp}; ${at}\n`)
  } else {
    ctx.io.stdout(
      `FAILED: ${result.problem ?? 'unknown'} at seq ${result.firstBadSeq ?? '?'}: ${result.detail ?? ''}\n` +
        `verified prefix: ${at}; entries read: ${result.entries}\n`,
    )
  }
}

interface QueryOptions {
  agent?: string
  connection?: string
  outcome?: string
  since?: string
  until?: string
  limit?: string
  json?: boolean
}

async function queryCommand(ctx: CliContext, store: string, o: QueryOptions): Promise<void> {
  const q: AuditQuery = {
    agentId: o.agent,
    connection: o.connection,
    outcome: o.outcome as AuditOutcome | undefined,
    since: o.since,
    until: o.until,
    limit: o.limit === undefined ? undefined : parseCount(o.limit, '--limit'),
  }
  const entries = await withStore(ctx, store, (log) => log.query(q))
  if (o.json) return printJson(ctx, entries)
  if (entries.length === 0) ctx.io.stderr('no matching entries\n')
  printTable(ctx, entries)
}

interface TailOptions {
  lines: string
  follow?: boolean
  interval: string
  json?: boolean
}

async function tailCommand(ctx: CliContext, store: string, o: TailOptions): Promise<void> {
  const n = parseCount(o.lines, '-n')
  const interval = parseCount(o.interval, '--interval')
  const log = await openStore(ctx, store)
  try {
    const first = await log.query({ limit: n })
    let last = first.at(-1)?.seq ?? (await log.head()).seq
    if (!o.follow) {
      if (o.json) printJson(ctx, first)
      else printTable(ctx, first)
      return
    }
    const emit = (entries: readonly TokenAccessAuditEntry[], header: boolean) => {
      if (o.json) for (const e of entries) ctx.io.stdout(`${JSON.stringify(e)}\n`)
      else printTable(ctx, entries, header)
    }
    emit(first, true)
    let stop: () => void = () => {}
    const stopped = new Promise<void>((r) => {
      stop = r
    })
    const onSigint = () => stop()
    process.once('SIGINT', onSigint)
    try {
      let running = true
      void stopped.then(() => {
        running = false
      })
      while (running) {
        let timer: NodeJS.Timeout | undefined
        await Promise.race([
          new Promise<void>((r) => {
            timer = setTimeout(r, interval)
          }),
          stopped,
        ])
        clearTimeout(timer)
        if (!running) break
        const fresh = await log.query({ afterSeq: last })
        if (fresh.length > 0) {
          emit(fresh, false)
          last = fresh.at(-1)?.seq ?? last
        }
      }
    } finally {
      process.removeListener('SIGINT', onSigint)
    }
  } catch (err) {
    if (err instanceof TypeError) throw new CliUsageError(err.message)
    throw err
  } finally {
    await log.close()
  }
}

interface CheckpointOptions {
  key: string
  out?: string
  json?: boolean
}

async function checkpointCommand(ctx: CliContext, store: string, o: CheckpointOptions): Promise<void> {
  const key = await readText(ctx, o.key, 'private key')
  let cp: AuditCheckpoint
  try {
    cp = await withStore(ctx, store, (log) => log.checkpoint(key))
  } catch (err) {
    if (err instanceof AuditIntegrityError) {
      ctx.io.stderr(`acgs-auth0: ${err.message}\n`)
      ctx.exitCode = ExitCode.INTEGRITY
      return
    }
    throw err
  }
  if (o.out !== undefined) {
    try {
      await writeFile(resolve(ctx.io.cwd, o.out), `${JSON.stringify(cp, null, 2)}\n`)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      throw new CliUsageError(
        `cannot write checkpoint ${o.out}${typeof code === 'string' ? ` (${code})` : ''}`,
      )
    }
  }
  if (o.json || o.out === undefined) return printJson(ctx, cp)
  ctx.io.stdout(`checkpoint of ${store} at seq ${cp.seq} (${cp.hash}) written to ${o.out}\n`)
}

async function repairCommand(ctx: CliContext, store: string, o: { json?: boolean }): Promise<void> {
  const url = storeUrl(ctx, store)
  let repair: RepairResult
  try {
    repair = await repairTornTail(url)
  } catch (err) {
    const code = (err as { code?: unknown }).code
    throw new CliUsageError(
      `cannot repair audit store ${store}${typeof code === 'string' ? ` (${code})` : ''}`,
    )
  }
  const result = await withStore(ctx, store, (log) => log.verify())
  ctx.exitCode = result.ok ? ExitCode.OK : ExitCode.INTEGRITY
  if (o.json) return printJson(ctx, { ...repair, verify: result })
  ctx.io.stdout(
    repair.repaired
      ? `moved an incomplete last line (${repair.bytes} bytes) to ${repair.savedTo}\n`
      : 'no incomplete last line to repair\n',
  )
  ctx.io.stdout(
    result.ok
      ? `ok: ${result.entries} entries verified\n`
      : `FAILED: ${result.problem ?? 'unknown'} at seq ${result.firstBadSeq ?? '?'}: ${result.detail ?? ''}\n`,
  )
}

interface KeygenOptions {
  outPrivate: string
  outPublic: string
  force?: boolean
  json?: boolean
}

async function keygenCommand(ctx: CliContext, o: KeygenOptions): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const flag = o.force ? 'w' : 'wx'
  const write = async (file: string, text: string, mode: number) => {
    try {
      await writeFile(resolve(ctx.io.cwd, file), text, { flag, mode })
    } catch (err) {
      const code = (err as { code?: unknown }).code
      const why = code === 'EEXIST' ? 'it exists (use --force to replace it)' : String(code ?? 'error')
      throw new CliUsageError(`cannot write ${file}: ${why}`)
    }
  }
  await write(o.outPrivate, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600)
  await write(o.outPublic, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644)
  if (o.json) return printJson(ctx, { privateKey: o.outPrivate, publicKey: o.outPublic, type: 'ed25519' })
  ctx.io.stdout(`Ed25519 key pair written: ${o.outPrivate} (private, mode 0600), ${o.outPublic} (public)\n`)
}

/** Adds `audit verify|query|tail|checkpoint|repair|keygen` (DESIGN §9). */
export const registerAuditCommands: RegisterCommands = (program: Command, ctx: CliContext) => {
  const audit = program
    .command('audit')
    .description('Inspect and verify a tamper-evident audit log (STORE: sqlite:PATH, jsonl:PATH, or a path)')

  audit
    .command('verify')
    .description('Verify the hash chain (and a signed checkpoint); exit 4 when it does not verify')
    .argument('<store>', 'audit store')
    .option('--checkpoint <file>', 'a checkpoint JSON file the log must contain and extend')
    .option('--public-key <file>', 'the Ed25519 public key (PEM) that signed the checkpoint')
    .option('--json', 'print the verify() result as JSON')
    .action((store: string, o: VerifyOptions) => verifyCommand(ctx, store, o))

  audit
    .command('query')
    .description('List entries, oldest first')
    .argument('<store>', 'audit store')
    .option('--agent <id>', 'only this agent')
    .option('--connection <name>', 'only this connection')
    .option('--outcome <outcome>', 'only this outcome')
    .option('--since <iso>', 'at or after this time')
    .option('--until <iso>', 'at or before this time')
    .option('--limit <n>', 'only the newest N matches')
    .option('--json', 'print a JSON array of entries')
    .action((store: string, o: QueryOptions) => queryCommand(ctx, store, o))

  audit
    .command('tail')
    .description('Show the newest entries; --follow keeps printing new ones until interrupted')
    .argument('<store>', 'audit store')
    .option('-n, --lines <n>', 'how many entries', '10')
    .option('-f, --follow', 'poll for new entries until SIGINT')
    .option('--interval <ms>', 'poll interval for --follow', '1000')
    .option('--json', 'JSON array (with --follow: one JSON entry per line)')
    .action((store: string, o: TailOptions) => tailCommand(ctx, store, o))

  audit
    .command('checkpoint')
    .description('Sign the current head with an Ed25519 key (the log must verify)')
    .argument('<store>', 'audit store')
    .requiredOption('--key <file>', 'Ed25519 private key (PEM)')
    .option('--out <file>', 'write the checkpoint JSON to this file')
    .option('--json', 'print the checkpoint as JSON')
    .action((store: string, o: CheckpointOptions) => checkpointCommand(ctx, store, o))

  audit
    .command('repair')
    .description(
      'Move an incomplete last line (left by a crash) out of a jsonl: log, then verify; exit 4 if it still does not',
    )
    .argument('<store>', 'audit store')
    .option('--json', 'print { repaired, bytes, savedTo, verify } as JSON')
    .action((store: string, o: { json?: boolean }) => repairCommand(ctx, store, o))

  audit
    .command('keygen')
    .description('Write a new Ed25519 key pair for checkpoints (private key file mode 0600)')
    .requiredOption('--out-private <file>', 'where to write the private key (PEM)')
    .requiredOption('--out-public <file>', 'where to write the public key (PEM)')
    .option('--force', 'replace existing files')
    .option('--json', 'print the file names as JSON')
    .action((o: KeygenOptions) => keygenCommand(ctx, o))
}
