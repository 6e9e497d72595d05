import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { cli } from '../helpers/cli-process'
import { tempDir } from '../helpers'

type Test = tap.Test

const ROOT = resolve(__dirname, '..', '..')

// The CLI's configuration: bad settings, an unusable database, and which database it opens from
// where (DATABASE_URL, .env, DATA_DIR). How it is called is in usage.test.ts.

t.test('configuration and stores', async (t: Test) => {
  const bad = await cli({ DATABASE_URL: 'mysql://nope' }, ['user', 'list'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /Invalid configuration:\n {2}DATABASE_URL/)
  const down = await cli({ DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/none', DATABASE_TIMEOUT_MS: '500' }, ['user', 'list'])
  t.equal(down.code, 1)
  t.match(down.stderr, /PostgreSQL at .* is not usable/)
  t.match(down.stderr, /^gatehouse: database PostgreSQL postgres:\/\/postgres@127\.0\.0\.1:1\/none\n/, 'the database named first, without its password')
  t.notMatch(down.stderr, /hunter2/, 'never the password')

  const secret = await cli({}, ['secret', 'generate'])
  t.equal(secret.code, 0)
  t.match(secret.stdout, /^[A-Za-z0-9_-]{43}\n$/, '256 bits, base64url')
  t.not(secret.stdout, (await cli({}, ['secret', 'generate'])).stdout)
  const help = await cli({}, ['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /user set-admin <name> on\|off/)
})

t.test('the database: named on every command that opens one, the same whatever the directory', async (t: Test) => {
  const [one, two] = [tempDir(t), tempDir(t)]
  const named = (run: { stderr: string }): string | undefined => /^gatehouse: database (.*)$/m.exec(run.stderr)?.[1]
  // Without DATABASE_URL: the installation's data/ folder, not the current directory's.
  const fromOne = await cli({}, ['user', 'list'], '', one)
  const fromTwo = await cli({}, ['user', 'list'], '', two)
  t.equal(fromOne.code, 0, fromOne.stderr)
  t.equal(named(fromOne), `SQLite ${join(ROOT, 'data', 'gatehouse.db')}`)
  t.equal(named(fromTwo), named(fromOne), 'the same database from another directory')

  // A relative path is from the current directory, and named in full.
  const relative = await cli({ DATABASE_URL: 'sqlite:here.db' }, ['db', 'migrate'], '', one)
  t.equal(relative.code, 0, relative.stderr)
  t.equal(named(relative), `SQLite ${join(one, 'here.db')}`)

  // .env in the current directory is read; the environment wins over it.
  writeFileSync(join(two, '.env'), '# local settings\nDATABASE_URL=sqlite:from-dotenv.db\nLOG_LEVEL=debug\n')
  t.equal(named(await cli({}, ['db', 'migrate'], '', two)), `SQLite ${join(two, 'from-dotenv.db')}`, '.env read')
  t.equal(named(await cli({ DATABASE_URL: 'sqlite:from-env.db' }, ['db', 'migrate'], '', two)), `SQLite ${join(two, 'from-env.db')}`, 'the environment wins')
  const dataDir = join(two, 'elsewhere')
  mkdirSync(dataDir)
  t.equal(named(await cli({ DATA_DIR: dataDir, DATABASE_URL: '' }, ['user', 'list'], '', one)), `SQLite ${join(dataDir, 'gatehouse.db')}`, 'DATA_DIR moves the default')

  // Commands that open nothing name nothing.
  t.notMatch((await cli({}, ['secret', 'generate'])).stderr, /^gatehouse: database /m)
})
