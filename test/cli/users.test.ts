import t from 'tap'
import { cli, type Run } from '../helpers/cli-process'
import { bearer, buildTestApp, decode, forEachDatabase, logIn, SECRET, testDatabaseUrl } from '../helpers'

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
    const databaseName = database === 'sqlite' ? `SQLite ${databaseUrl.slice('sqlite:'.length)}` : `PostgreSQL ${databaseUrl}`
    const env = { DATABASE_URL: databaseUrl, JWT_SECRET_KEY: SECRET }

    const migrated = await cli(env, ['db', 'migrate'])
    t.equal(migrated.code, 0, migrated.stderr)
    t.match(migrated.stdout, /applied now: 0001_users_items_revocations, 0002_users_is_admin, 0003_sessions, 0004_users_credential_version, 0005_login_attempts/)
    t.match((await cli(env, ['db', 'migrate'])).stdout, /up to date \(5 migrations\); nothing to apply/)

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

    const app = await buildTestApp(t, { databaseUrl })
    const admin = await logIn(app, 'cli_admin', 'correct horse battery')
    t.equal(decode(admin.access).is_admin, true, 'the admin flag is in the token')
    const plain = await logIn(app, 'PLAIN_USER', 'another good one')
    t.equal(decode(plain.access).is_admin, false)

    const listed = await cli(env, ['user', 'list', '--json'])
    t.equal(listed.code, 0, listed.stderr)
    t.equal(listed.stderr, `gatehouse: database ${databaseName}\n`, 'reading names the database and writes no audit line')
    t.same(JSON.parse(listed.stdout).map(({ username, is_admin: isAdmin }: any) => [username, isAdmin]), [
      ['cli_admin', true], ['plain_user', false], ['named_boss', false]
    ])
    t.match((await cli(env, ['user', 'list'])).stdout, /^ID +USERNAME +ADMIN +CREATED\n1 +cli_admin +yes +\d{4}-/)

    await app.inject({ method: 'PUT', url: '/item/crate', headers: bearer(plain.access), payload: { price: 1 } })
    const offAgain = await cli(env, ['user', 'set-admin', 'cli_admin', 'off'])
    t.equal(offAgain.code, 0, offAgain.stderr)
    t.same(auditEvents(t, offAgain), [['admin_flag_cleared', 'cli_admin'], ['sessions_revoked', 'cli_admin']])
    const demoted = await app.inject({ method: 'DELETE', url: '/item/crate', headers: bearer(admin.access) })
    t.equal(demoted.json().error, 'token_revoked', 'a demotion ends the sessions: no token claiming admin outlives it')
    t.match((await cli(env, ['user', 'set-admin', 'cli_admin', 'off'])).stdout, /was not an admin; nothing changed/)
    const onAgain = await cli(env, ['user', 'set-admin', 'cli_admin', 'on'])
    t.equal(onAgain.code, 0)
    t.same(auditEvents(t, onAgain), [['admin_flag_set', 'cli_admin']])
    const promoted = await logIn(app, 'cli_admin', 'correct horse battery')
    t.equal((await app.inject({ method: 'DELETE', url: '/item/crate', headers: bearer(promoted.access) })).statusCode, 200)
    const refused = await cli({ ...env, ADMIN_USERNAMES: 'named_boss' }, ['user', 'list'])
    t.equal(refused.code, 1, 'ADMIN_USERNAMES set: the CLI refuses too, as the service does')
    t.match(refused.stderr, /ADMIN_USERNAMES: no longer supported.*gatehouse user set-admin <name> on/s)

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
})
