/**
 * LangChain and the AI SDK are optional peer dependencies: importing `acgs-auth0` must never
 * load them. A Node.js resolve hook refuses every module under those packages; the core entry
 * must still import, and the framework entries must trip the hook (so the hook is known to work).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const root = join(import.meta.dirname, '..')
let dir: string
let register: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'acgs-peers-'))
  await writeFile(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  if (/\\/node_modules\\/(@langchain\\/|ai\\/|@ai-sdk\\/)/.test(result.url)) throw new Error('FRAMEWORK_LOADED ' + result.url)
  return result
}
`,
  )
  register = join(dir, 'register.mjs')
  await writeFile(
    register,
    `import { register } from 'node:module'\nregister(new URL('./hooks.mjs', import.meta.url))\n`,
  )
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function importWithHook(entry: string): Promise<{ ok: boolean; output: string }> {
  const url = pathToFileURL(join(root, entry)).href
  const code = `const m = await import(${JSON.stringify(url)}); console.log('EXPORTS', Object.keys(m).length)`
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', '--import', pathToFileURL(register).href, '--input-type=module', '-e', code],
      { cwd: root },
    )
    return { ok: true, output: stdout + stderr }
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

describe('optional peer dependencies', () => {
  it('importing acgs-auth0 (src/index.ts) loads neither LangChain nor the AI SDK', async () => {
    const { ok, output } = await importWithHook('src/index.ts')
    expect(output).not.toContain('FRAMEWORK_LOADED')
    expect(ok).toBe(true)
    expect(output).toMatch(/EXPORTS [1-9]/)
  })

  it('the framework entries do load their framework (the hook works)', async () => {
    const lc = await importWithHook('src/integrations/langchain.ts')
    expect(lc.ok).toBe(false)
    expect(lc.output).toContain('FRAMEWORK_LOADED')
    expect(lc.output).toContain('@langchain/core')
    const ai = await importWithHook('src/integrations/vercel-ai.ts')
    // vercel-ai.ts imports only types from 'ai': loading it needs no framework at all
    expect(ai.output).not.toContain('FRAMEWORK_LOADED')
    expect(ai.ok).toBe(true)
  })
})
