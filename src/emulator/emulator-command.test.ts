import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { runCli } from '../cli/program.js'
import { DEFAULT_EMULATOR_CONFIG, parseEmulatorConfig } from './index.js'

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..')
const example = join(root, 'examples/emulator.config.yaml')

function capture(cwd = root) {
  const out: string[] = []
  const err: string[] = []
  const io = {
    stdout: (t: string) => void out.push(t),
    stderr: (t: string) => void err.push(t),
    env: {},
    cwd,
  }
  return { io, out: () => out.join(''), err: () => err.join('') }
}

describe('examples/emulator.config.yaml', () => {
  it('is the built-in default configuration', async () => {
    const value = parseYaml(await readFile(example, 'utf8'))
    expect(parseEmulatorConfig(value, example)).toEqual(DEFAULT_EMULATOR_CONFIG)
  })
})

describe('acgs-auth0 emulator: usage errors (exit 2)', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'acgs-emu-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('names an unreadable config file', async () => {
    const c = capture(dir)
    expect(await runCli(['emulator', '--config', 'missing.yaml'], c.io)).toBe(2)
    expect(c.err()).toContain('missing.yaml')
    expect(c.out()).toBe('')
  })

  it('names a config file that does not parse or does not check, without echoing secrets', async () => {
    await writeFile(join(dir, 'broken.yaml'), 'clients: [\n')
    const broken = capture(dir)
    expect(await runCli(['emulator', '--config', 'broken.yaml'], broken.io)).toBe(2)
    expect(broken.err()).toContain('broken.yaml')

    await writeFile(
      join(dir, 'wrong.json'),
      JSON.stringify({
        clients: [{ clientId: 'a', clientSecret: 'canary-secret-x1' }],
        users: [{ userId: 1 }],
      }),
    )
    const wrong = capture(dir)
    expect(await runCli(['emulator', '--config', 'wrong.json'], wrong.io)).toBe(2)
    expect(wrong.err()).toContain('wrong.json')
    expect(wrong.err()).toContain('users.0')
    expect(wrong.err()).not.toContain('canary-secret-x1')
  })

  it('refuses a bad port', async () => {
    const c = capture()
    expect(await runCli(['emulator', '--port', 'http'], c.io)).toBe(2)
    expect(c.err()).toContain('--port')
  })
})

function waitForExit(child: ChildProcess): Promise<number | null> {
  return new Promise((done) => child.once('exit', (code) => done(code)))
}

async function readJson(child: ChildProcess): Promise<{ url: string }> {
  let text = ''
  let errText = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    errText += chunk.toString()
  })
  return new Promise((done, fail) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString()
      try {
        done(JSON.parse(text) as { url: string })
      } catch {
        // not complete yet
      }
    })
    child.once('exit', (code) =>
      fail(new Error(`emulator exited early (${code}): ${text} ${errText.slice(0, 800)}`)),
    )
  })
}

describe('acgs-auth0 emulator (spawned)', () => {
  for (const args of [[], ['--config', 'examples/emulator.config.yaml']]) {
    it(`prints its URL, serves the demo tenant and exits 0 on SIGTERM ${args.join(' ')}`, async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/bin.ts', 'emulator', '--port', '0', '--json', ...args],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const exited = waitForExit(child)
      try {
        const { url } = await readJson(child)
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
        const res = await fetch(`${url}/oauth/token`, {
          method: 'POST',
          body: new URLSearchParams({
            grant_type: 'urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token',
            client_id: 'demo-client',
            client_secret: 'demo-client-secret',
            subject_token: 'rt_alice_demo',
            subject_token_type: 'urn:ietf:params:oauth:token-type:refresh_token',
            requested_token_type: 'http://auth0.com/oauth/token-type/federated-connection-access-token',
            connection: 'github',
            scope: 'repo:read',
          }),
        })
        expect(res.status).toBe(200)
        expect(((await res.json()) as { scope: string }).scope).toBe('repo:read')
        child.kill('SIGTERM')
        expect(await exited).toBe(0)
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL')
      }
    })
  }
})
