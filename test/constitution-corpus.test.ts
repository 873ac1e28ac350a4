import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConstitutionError, parseConstitution, readConstitution } from '../src/index.js'

interface Case {
  file: string
  code: string
  line: number
  note: string
}

const dir = join(import.meta.dirname, 'fixtures', 'constitutions')
const { cases } = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: Case[] }
const tmp = mkdtempSync(join(tmpdir(), 'acgs-corpus-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

async function loadError(path: string): Promise<ConstitutionError> {
  try {
    await readConstitution(path)
  } catch (err) {
    expect(err).toBeInstanceOf(ConstitutionError)
    return err as ConstitutionError
  }
  throw new Error(`${path} loaded without error`)
}

function expectIssue(err: ConstitutionError, source: string, code: string, line: number): void {
  expect(err.code).toBe('ERR_CONSTITUTION_INVALID')
  expect(err.issues.length).toBeGreaterThan(0)
  for (const issue of err.issues) {
    expect(issue.source).toBe(source)
    expect(issue.message.length).toBeGreaterThan(10)
    expect(issue.line).toBeGreaterThanOrEqual(0)
  }
  expect(err.issues.map((i) => `${i.code}@${i.line}`)).toContain(`${code}@${line}`)
}

describe('malformed constitution corpus', () => {
  it('has at least 40 committed cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40)
  })

  it.each(cases.map((c) => [c.file, c] as const))('%s', async (_file, c) => {
    const path = join(dir, c.file)
    expectIssue(await loadError(path), path, c.code, c.line)
  })
})

describe('generated hostile inputs', () => {
  function write(name: string, content: string | Uint8Array): string {
    const path = join(tmp, name)
    writeFileSync(path, content)
    return path
  }

  it('refuses a 5 MiB file before parsing it', async () => {
    const line = '        - "repo:read"\n'
    const path = write(
      'five-mib.yaml',
      `token_vault:\n${line.repeat(Math.ceil((5 * 1024 * 1024) / line.length))}`,
    )
    expectIssue(await loadError(path), path, 'too_large', 0)
    expect(() => parseConstitution(readFileSync(path, 'utf8'), 'x')).toThrow(/over the limit/)
  })

  it('reads a valid file larger than one read chunk completely', async () => {
    const rules = Array.from(
      { length: 3000 },
      (_, i) => `  conn-${i}:\n    EXECUTIVE:\n      permitted_scopes: ["repo:read"]\n`,
    )
    const path = write(
      'big-valid.yaml',
      `constitutional_hash: "608508a9bd224290"\nconnections:\n${rules.join('')}`,
    )
    const { constitution } = await readConstitution(path)
    expect(Object.keys(constitution.connections)).toHaveLength(3000)
  })

  it('counts UTF-8 bytes, not characters', () => {
    const text = `# ${'é'.repeat(600)}\n` // 1,203 bytes, 603 characters
    const err = (() => {
      try {
        parseConstitution(text, 's', { maxBytes: 1000 })
      } catch (e) {
        return e as ConstitutionError
      }
      throw new Error('no error')
    })()
    expect(err.issues[0]?.code).toBe('too_large')
  })

  it('refuses binary junk', async () => {
    let seed = 42
    const bytes = new Uint8Array(4096).map(() => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed & 0xff
    })
    const path = write('junk.bin', bytes)
    expect((await loadError(path)).issues[0]?.code).toBe('binary_content')
  })

  it('refuses a NUL byte in otherwise valid UTF-8', async () => {
    const path = write('nul.yaml', 'token_vault:\n  constitutional_hash: "608508a9bd224290\u0000"\n')
    expectIssue(await loadError(path), path, 'binary_content', 2)
  })

  it.each([
    ['10,000 levels of [', '['.repeat(10_000), 1],
    ['closed 10,000 levels of [', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 1],
    ['4 MiB of [', '['.repeat(4 * 1024 * 1024 - 1), 1],
    ['a million "- " on one line', `${'- '.repeat(1_000_000)}x`, 1],
    ['a million nested flow maps', `a: ${'{a: '.repeat(1_000_000)}`, 1],
    ['a million "k: " on one line', `${'k: '.repeat(1_000_000)}x`, 1],
  ])('refuses deep nesting: %s', async (_name, text, line) => {
    const path = write('deep.yaml', text)
    expectIssue(await loadError(path), path, 'too_deep', line)
  })

  it('refuses a large billion-laughs document', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 1; i < 30; i++)
      levels.push(`l${i}: &l${i} [${`*${i === 1 ? 'a' : `l${i - 1}`}, `.repeat(10)}x]`)
    try {
      parseConstitution(levels.join('\n'), 'laughs.yaml')
      expect.unreachable()
    } catch (err) {
      expect((err as ConstitutionError).issues[0]).toMatchObject({ code: 'alias_limit', line: 2 })
    }
  })
})
