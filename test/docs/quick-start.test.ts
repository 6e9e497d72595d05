import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

const ROOT = resolve(__dirname, '..', '..')

/** The ```sh blocks of the README's "Quick start" section, in order. */
function quickStartBlocks (): string[] {
  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8')
  const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? ''
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1])
}

const commands = (block: string): string[] =>
  block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line !== '' && !line.startsWith('#'))

/** Runs `script` in a POSIX shell in the checkout, as a reader would paste it. */
async function sh (script: string, env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn('sh', ['-c', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => { child.once('close', resolve) })
  return { code, stdout, stderr }
}

t.test('the README\'s Quick start runs as written, in order, against the service `npm start` serves', async (t: Test) => {
  const [install, ...rest] = quickStartBlocks()
  t.ok(rest.length >= 2, 'the install block, then blocks to run')
  // The first block installs and starts: CI ran `npm ci` already (on this Node), so the test runs
  // `npm start` itself, with its data in a fresh directory and on a free port.
  t.same(commands(install), ['npm ci', 'npm start'], 'the first block is npm ci, then npm start')
  const data = tempDir(t)
  const server = await startServer(t, ROOT, { DATA_DIR: data, HOME: process.env.HOME ?? data }, ['npm', 'start'])
  t.match(server.output(), /JWT_SECRET_KEY is not set/, 'with nothing configured: the generated secret, with a warning')

  // Verbatim, in one shell session (the token variable carries over), one block after the other.
  // Only curl's connections to localhost:3000 are led to the test's port, so parallel tests and a
  // developer's own service on 3000 are left alone.
  const divider = '=== next block ==='
  const script = [
    'set -e',
    `curl () { command curl --connect-to localhost:3000:127.0.0.1:${server.port} "$@"; }`,
    ...rest.map((block) => `${block}\necho; echo '${divider}'`)
  ].join('\n')
  const run = await sh(script, { DATA_DIR: data })
  t.equal(run.code, 0, `every block runs: ${run.stderr}`)
  const outputs = run.stdout.split(`${divider}\n`)
  t.equal(outputs.length, rest.length + 1, 'every block ran to its end')

  const [requests, cli] = outputs
  t.notMatch(requests, /"error"/, 'no request was refused')
  // curl prints each answer without a newline: one JSON object after the other.
  const answers = requests.trim().replace(/\}\s*\{/g, '}\n{').split('\n').map((line) => JSON.parse(line))
  t.match(answers[0], { message: /./, id: 1 }, 'registered')
  t.same(answers.at(-1), { items: [{ id: 1, name: 'chair', price: 15.99 }] }, 'the items, as a signed-in user sees them')
  t.match(cli, /^ID +USERNAME +ADMIN +CREATED\n1 +alice +no/m, 'the CLI lists the user, from the same database')
  t.match(cli, /Usage: gatehouse <command>/, 'and tells its commands')
  t.match(run.stderr, new RegExp(`gatehouse: database SQLite ${data}/gatehouse\\.db`), 'naming the database')

  server.child.kill('SIGINT')
  t.equal(await server.exited, 0, 'Ctrl-C stops it')
})
