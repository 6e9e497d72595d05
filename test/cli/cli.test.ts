import t from 'tap'
import { cli, type Run } from '../helpers/cli-process'
import { bearer, buildTestApp, decode, forEachDatabase, logIn, requireRedis, signUp, SECRET, TEST_REDIS_URL, testDatabaseUrl, uniqueName } from '../helpers'

type Test = tap.Test

/** The audit lines a run wrote to stderr, as [event, username] pairs; each checked for its fields. */
function auditEvents (t: Test, run: Run): Array<[string, string]> {
  const records = run.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
  return records.filter((record) => record.audit === true).map((record) => {
    t.match(record, { level: 30, via: 'cli', os_user: /./, user_id: /^\d+$/, msg: `audit: ${record.event as string}` }, `${record.event as string}: who ran it, on which account`)
    return [record.event, record.username]
  })
}

forEachDatabase(t, async (t, database) => {
  t.test('users made, promoted, revoked and deleted from the CLI, seen by the service', async (t: Test) => {
    const databaseUrl = await testDatabaseUrl(t, database)
    const env = { DATABASE_URL: databaseUrl, JWT_SECRET_KEY: SECRET, ADMIN_USERNAMES: 'named_boss' }

    const migrated = await cli(env, ['db', 'migrate'])
    t.equal(migrated.code, 0, migrated.stderr)
    t.match(migrated.stdout, /applied now: 0001_users_items_revocations, 0002_users_is_admin/)
    t.match((await cli(env, ['db', 'migrate'])).stdout, /up to date \(2 migrations\); nothing to apply/)

    // Full-width letters and capitals: one canonical account, as at /register.
    const created = await cli(env, ['user', 'create', 'ＣＬＩ_Admin', '--admin'], 'correct horse battery\n')
    t.equal(created.code, 0, created.stderr)
    t.match(created.stdout, /^created user cli_admin \(id \d+\), an admin\n$/)
    t.same(auditEvents(t, created), [['user_created', 'cli_admin'], ['admin_flag_set', 'cli_admin']], 'audit lines on stderr')
    const createdPlain = await cli(env, ['user', 'create', 'plain_user'], 'another good one\r\n')
    t.equal(createdPlain.code, 0)
    t.same(auditEvents(t, createdPlain), [['user_created', 'plain_user']])
    const createdBoss = await cli(env, ['user', 'create', 'named_boss'], 'the boss password\n')
    t.equal(createdBoss.code, 0)
    const stderrs = [created, createdPlain, createdBoss].map((run) => run.stderr)

    const app = await buildTestApp(t, { databaseUrl, env: { ADMIN_USERNAMES: 'named_boss' } })
    const admin = await logIn(app, 'cli_admin', 'correct horse battery')
    t.equal(decode(admin.access).is_admin, true, 'the admin flag is in the token')
    const plain = await logIn(app, 'PLAIN_USER', 'another good one')
    t.equal(decode(plain.access).is_admin, false)

    const listed = await cli(env, ['user', 'list', '--json'])
    t.equal(listed.code, 0, listed.stderr)
    t.equal(listed.stderr, '', 'reading writes no audit line')
    t.same(JSON.parse(listed.stdout).map(({ username, is_admin: isAdmin, admin_via: via }: any) => [username, isAdmin, via]), [
      ['cli_admin', true, ['flag']], ['plain_user', false, []], ['named_boss', true, ['ADMIN_USERNAMES']]
    ])
    t.match((await cli(env, ['user', 'list'])).stdout, /^ID +USERNAME +ADMIN +CREATED\n1 +cli_admin +yes \(flag\) +\d{4}-/)

    await app.inject({ method: 'PUT', url: '/item/crate', headers: bearer(plain.access), payload: { price: 1 } })
    const offAgain = await cli(env, ['user', 'set-admin', 'cli_admin', 'off'])
    t.equal(offAgain.code, 0, offAgain.stderr)
    t.same(auditEvents(t, offAgain), [['admin_flag_cleared', 'cli_admin']])
    const demoted = await app.inject({ method: 'DELETE', url: '/item/crate', headers: bearer(admin.access) })
    t.equal(demoted.json().error, 'admin_required', 'a demotion counts at once')
    const onAgain = await cli(env, ['user', 'set-admin', 'cli_admin', 'on'])
    t.equal(onAgain.code, 0)
    t.same(auditEvents(t, onAgain), [['admin_flag_set', 'cli_admin']])
    t.equal((await app.inject({ method: 'DELETE', url: '/item/crate', headers: bearer(admin.access) })).statusCode, 200)
    t.match((await cli(env, ['user', 'set-admin', 'named_boss', 'off'])).stdout, /stays an admin: ADMIN_USERNAMES names it/)

    const revoked = await cli(env, ['user', 'revoke-sessions', 'Plain_User'])
    t.equal(revoked.code, 0, revoked.stderr)
    t.same(auditEvents(t, revoked), [['sessions_revoked', 'plain_user']])
    for (const token of [plain.access, plain.refresh]) {
      const answer = await app.inject({ method: 'POST', url: decode(token).type === 'access' ? '/logout' : '/refresh', headers: bearer(token) })
      t.equal(answer.json().error, 'token_revoked', `its ${decode(token).type as string} token is revoked`)
    }
    const again = await logIn(app, 'plain_user', 'another good one')
    t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(again.access) })).statusCode, 404, 'a new login works')

    const deleted = await cli(env, ['user', 'delete', 'plain_user'])
    t.equal(deleted.code, 0, deleted.stderr)
    t.same(auditEvents(t, deleted), [['user_deleted', 'plain_user']])
    const audited = [...stderrs, offAgain.stderr, onAgain.stderr, revoked.stderr, deleted.stderr].join('')
    for (const password of ['correct horse battery', 'another good one', 'the boss password']) {
      t.notOk(audited.includes(password), 'no password in the audit lines')
    }
    t.notMatch(audited, /\$argon2/, 'nor a password hash')
    t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(again.access) })).json().error, 'token_revoked')
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'plain_user', password: 'another good one' } })
    t.equal(login.statusCode, 401)
  })

  t.test('failures: clear messages and exit codes', async (t: Test) => {
    const env = { DATABASE_URL: await testDatabaseUrl(t, database) }
    t.equal((await cli(env, ['user', 'create', 'taken'], 'password one\n')).code, 0)
    const cases: Array<[string[], string, number, RegExp]> = [
      [['user', 'create', 'taken'], 'password two\n', 1, /already exists/],
      [['user', 'create', 'shorty'], 'short\n', 1, /password must have 8 to 1024 characters/],
      [['user', 'create', '  ab  '], 'long enough\n', 1, /username must have 3 to 64 characters/],
      [['user', 'create', 'nopass'], '', 1, /no password/],
      [['user', 'create', 'inline', 'secret password'], '', 2, /a password is never an argument/],
      [['user', 'create', 'inline', '--password', 'secret password'], '', 2, /a password is never an argument/],
      [['user', 'delete', 'nobody'], '', 1, /no user named "nobody"/],
      [['user', 'revoke-sessions', 'nobody'], '', 1, /no user named "nobody"/],
      [['user', 'set-admin', 'taken', 'yes'], '', 2, /on or off/],
      [['user', 'frobnicate'], '', 2, /unknown command/],
      [['user', 'list', 'extra'], '', 2, /usage: gatehouse user list/],
      [[], '', 2, /^Usage: gatehouse/]
    ]
    for (const [args, input, code, message] of cases) {
      const run = await cli(env, args, input)
      t.equal(run.code, code, `${args.join(' ')} exits ${code}`)
      t.match(run.stderr, message, `${args.join(' ')}: ${run.stderr.split('\n')[0]}`)
      t.equal(run.stdout, '', 'nothing on stdout')
      t.notMatch(run.stderr, /"audit":true/, 'no audit line for what was not done')
    }
    t.equal((await cli(env, ['user', 'list', '--json'])).stdout.includes('taken'), true, 'nothing was created by a failure but the first')
  })
})

t.test('configuration and stores', async (t: Test) => {
  const bad = await cli({ DATABASE_URL: 'mysql://nope' }, ['user', 'list'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /Invalid configuration:\n {2}DATABASE_URL/)
  const down = await cli({ DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/none', DATABASE_TIMEOUT_MS: '500' }, ['user', 'list'])
  t.equal(down.code, 1)
  t.match(down.stderr, /PostgreSQL at .* is not usable/)
  t.notMatch(down.stderr, /hunter2/, 'never the password')

  const secret = await cli({}, ['secret', 'generate'])
  t.equal(secret.code, 0)
  t.match(secret.stdout, /^[A-Za-z0-9_-]{43}\n$/, '256 bits, base64url')
  t.not(secret.stdout, (await cli({}, ['secret', 'generate'])).stdout)
  const help = await cli({}, ['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /user set-admin <name> on\|off/)
})

t.test('revoke-sessions with Redis: the same keys the service reads', async (t: Test) => {
  if (!await requireRedis(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const redisKeyPrefix = `gatehouse-test:${uniqueName()}:`
  const app = await buildTestApp(t, { databaseUrl, store: 'redis', redisKeyPrefix })
  const user = await signUp(app)
  const run = await cli({ DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redisKeyPrefix }, ['user', 'revoke-sessions', user.username])
  t.equal(run.code, 0, run.stderr)
  const answer = await app.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })
  t.equal(answer.json().error, 'token_revoked')
})
