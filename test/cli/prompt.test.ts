import { spawn } from 'node:child_process'
import t from 'tap'
import { CLI } from '../helpers/cli-process'
import { buildTestApp, logIn, testDatabaseUrl } from '../helpers'

type Test = tap.Test

// Keys as a terminal sends them.
const LEFT = '\u001b[D'
const HOME = '\u001b[H'
const BACKSPACE = '\u007f'

interface Terminal {
  /** Resolves once the output so far matches `pattern`. */
  waitFor: (pattern: RegExp) => Promise<void>
  type: (keys: string) => void
  output: () => string
  exited: Promise<number | null>
}

/** Runs the CLI on a pseudo-terminal of its own (util-linux's `script`), as someone at a terminal does. */
function terminal (t: Test, env: Record<string, string>, args: string[]): Terminal {
  const command = [process.execPath, CLI, ...args].map((word) => `'${word}'`).join(' ')
  const child = spawn('script', ['-qefc', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', resolve) })
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  })
  return {
    async waitFor (pattern) {
      const deadline = Date.now() + 20_000
      while (!pattern.test(output)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${String(pattern)} in:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    type (keys) { child.stdin.write(keys) },
    output: () => output,
    exited
  }
}

t.test('the hidden password prompt edits the line: arrows, Home and Backspace move and delete, never land in the password', async (t: Test) => {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const session = terminal(t, { DATABASE_URL: databaseUrl }, ['user', 'create', 'typist'])
  await session.waitFor(/Password:/)
  // "pass-123", four steps left, "word": password-123. Then a typo taken back with Backspace.
  session.type(`pass-123${LEFT.repeat(4)}word`)
  session.type('X' + BACKSPACE + '\r')
  await session.waitFor(/Repeat it:/)
  // Typed out of order, put right with Home: the same password.
  session.type(`assword-123${HOME}p\r`)
  if (!t.equal(await session.exited, 0, 'exits 0')) t.comment(session.output())
  t.match(session.output(), /created user typist \(id \d+\)/)
  t.notMatch(session.output(), /pass-123|assword-123|wordX/, 'nothing typed is echoed')

  const app = await buildTestApp(t, { databaseUrl })
  await logIn(app, 'typist', 'password-123')
  t.pass('password-123 logs in')
})

t.test('a bad name is refused before the password is asked for; Ctrl-C at the prompt creates nothing', async (t: Test) => {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const badName = terminal(t, { DATABASE_URL: databaseUrl }, ['user', 'create', 'a'])
  t.equal(await badName.exited, 1)
  t.match(badName.output(), /the username must have 3 to 64 characters/)
  t.notMatch(badName.output(), /Password/, 'no prompt')

  const interrupted = terminal(t, { DATABASE_URL: databaseUrl }, ['user', 'create', 'quitter'])
  await interrupted.waitFor(/Password:/)
  interrupted.type('half typed\u0003')
  t.equal(await interrupted.exited, 130)
  t.match(interrupted.output(), /gatehouse: interrupted/)
  const app = await buildTestApp(t, { databaseUrl })
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'quitter', password: 'half typed' } })
  t.equal(login.statusCode, 401, 'no account was made')
})
