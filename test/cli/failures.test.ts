import t from 'tap'
import { cli, messages } from '../helpers/cli-process'
import { forEachDatabase, testDatabaseUrl } from '../helpers'

type Test = tap.Test

forEachDatabase(t, async (t, database) => {
  t.test('failures on the database: clear messages, exit 1, nothing done', async (t: Test) => {
    const env = { DATABASE_URL: await testDatabaseUrl(t, database) }
    t.equal((await cli(env, ['user', 'create', 'taken'], 'password one\n')).code, 0)
    const cases: Array<[string[], string, RegExp]> = [
      [['user', 'create', 'taken'], 'password two\n', /user "taken" already exists/],
      [['user', 'create', 'shorty'], 'short\n', /password must have 8 to 1024 characters/],
      [['user', 'create', 'nopass'], '', /no password/],
      [['user', 'delete', 'nobody'], '', /no user named "nobody"/],
      [['user', 'revoke-sessions', 'nobody'], '', /no user named "nobody"/],
      [['user', 'set-admin', 'nobody', 'on'], '', /no user named "nobody"/]
    ]
    for (const [args, input, message] of cases) {
      const run = await cli(env, args, input)
      t.equal(run.code, 1, `${args.join(' ')} exits 1`)
      t.match(messages(run), message, `${args.join(' ')}: ${messages(run).split('\n')[0]}`)
      t.equal(run.stdout, '', 'nothing on stdout')
      t.notMatch(run.stderr, /"audit":true/, 'no audit line for what was not done')
    }
    t.same(JSON.parse((await cli(env, ['user', 'list', '--json'])).stdout).map((user: { username: string }) => user.username), ['taken'],
      'nothing was created by a failure')
  })
})
