/**
 * Crash-test child: `node --import tsx test/helpers/audit-child.ts URL [IN_FLIGHT]` appends to the
 * audit log forever, IN_FLIGHT at a time, and prints each seq once its append has resolved. The
 * parent kills it with SIGKILL and checks that every printed seq survived.
 */
import { TokenAuditLog } from '../../src/audit/index.js'
import { sampleInput } from './audit-fixtures.js'

const [url, inFlightArg] = process.argv.slice(2)
if (!url) throw new Error('usage: audit-child.ts URL [IN_FLIGHT]')
const inFlight = Number(inFlightArg ?? '1')
const log = await TokenAuditLog.open(url)
let i = 0
const worker = async () => {
  for (;;) {
    const e = await log.append(sampleInput(i++, { toolName: 'crash\ntest\u0000' }))
    process.stdout.write(`${e.seq}\n`)
  }
}
await Promise.all(Array.from({ length: inFlight }, worker))
