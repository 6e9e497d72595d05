import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { cli, messages } from '../helpers/cli-process'
import { testDatabaseUrl } from '../helpers'

type Test = tap.Test

const ROOT = resolve(__dirname, '..', '..')

// How the CLI is called and what it answers: usage, help, --json. Its configuration (settings, .env,
// the database it opens) is in configuration.test.ts.

t.test('usage mistakes: refused before anything is opened or asked, exit 2', async (t: Test) => {
  const cases: Array<[string[], RegExp]> = [
    [['user', 'create', '  ab  '], /username must have 3 to 64 characters/],
    [['user', 'create', 'inline', 'secret password'], /a password is never an argument/],
    [['user', 'create', 'inline', '--password', 'secret password'], /a password is never an argument/],
    [['user', 'set-admin', 'taken', 'yes'], /on or off/],
    [['user', 'frobnicate'], /unknown command/],
    [['user', 'list', 'extra'], /usage: gatehouse user list/],
    // Every flag is honoured or refused: none is accepted and ignored.
    [['user', 'list', '--admin'], /unknown option --admin; usage: gatehouse user list \[--json\]/],
    [['user', 'set-admin', 'taken', 'on', '--force'], /unknown option --force/],
    [['user', 'revoke-sessions', 'taken', '--admin'], /unknown option --admin/],
    [['user', 'delete', 'taken', '--yes'], /unknown option --yes/],
    [['secret', 'generate', '--json'], /unknown option --json/],
    [['keys', 'generate', 'ES256', '--json'], /unknown option --json/],
    [['db', 'migrate', '--admin'], /unknown option --admin/],
    [['--version', 'user'], /--version takes nothing else/],
    [[], /^Usage: gatehouse/]
  ]
  // An unusable database: any of these that opened it would fail with another message.
  const env = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', DATABASE_TIMEOUT_MS: '500' }
  for (const [args, message] of cases) {
    const run = await cli(env, args, 'long enough password\n')
    t.equal(run.code, args[2] === '  ab  ' ? 1 : 2, `${args.join(' ')} exits ${args[2] === '  ab  ' ? 1 : 2}`)
    t.match(run.stderr, message, `${args.join(' ')}: ${run.stderr.split('\n')[0]}`)
    t.notMatch(run.stderr, /^gatehouse: database /m, 'nothing opened')
    t.equal(run.stdout, '', 'nothing on stdout')
  }
})

t.test('--version, --help, and a command group alone lists its commands', async (t: Test) => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
  for (const flag of ['--version', '-V']) {
    const run = await cli({}, [flag])
    t.same([run.code, run.stdout], [0, `${version as string}\n`], flag)
  }
  for (const args of [['user'], ['user', '--help']]) {
    const run = await cli({}, args)
    t.equal(run.code, 0, args.join(' '))
    t.match(run.stdout, /^Usage:\n {2}gatehouse user create <name> \[--admin\] \[--json\]\n[\s\S]*gatehouse user import --from SOURCE \[--table users\] \[--dry-run\] \[--json\]\n$/)
    t.equal(run.stderr, '')
  }
  const commandHelp = await cli({}, ['user', 'list', '--help'])
  t.same([commandHelp.code, commandHelp.stdout], [0, 'Usage: gatehouse user list [--json]\n'])
  const unknown = await cli({}, ['user', 'frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command: user frobnicate\nUsage:\n {2}gatehouse user create/, 'the group\'s commands follow')
  const bareFlag = await cli({}, ['--bogus'])
  t.equal(bareFlag.code, 2)
  t.match(bareFlag.stderr, /unknown option --bogus/)
})

t.test('--json: every command that takes it answers JSON, as docs/operations.md describes', async (t: Test) => {
  const env = { DATABASE_URL: await testDatabaseUrl(t, 'sqlite') }
  const json = async (args: string[], input = ''): Promise<any> => {
    const run = await cli(env, [...args, '--json'], input)
    t.equal(run.code, 0, `${args.join(' ')}: ${messages(run)}`)
    return JSON.parse(run.stdout)
  }
  const migrated = await json(['db', 'migrate'])
  t.ok(migrated.migrations.includes('0001_users_items_revocations'), 'the migrations, by name')
  t.same(migrated.applied, migrated.migrations, 'all applied now, on a new database')
  t.same(await json(['user', 'create', 'Jsonny', '--admin'], 'correct horse battery\n'), { id: 1, username: 'jsonny', is_admin: true })
  t.same(await json(['user', 'set-admin', 'jsonny', 'off']), { id: 1, username: 'jsonny', is_admin: false })
  const revoked = await json(['user', 'revoke-sessions', 'jsonny'])
  t.match(revoked, { id: 1, username: 'jsonny', revoked_before: /^\d{4}-\d\d-\d\dT/ })
  t.match(await json(['user', 'list']), [{ id: 1, username: 'jsonny', is_admin: false, created_at: /^\d{4}-/ }])
  t.same(await json(['user', 'delete', 'jsonny']), { id: 1, username: 'jsonny', deleted: true })
  t.same(await json(['user', 'list']), [])
})
