import t from 'tap'
import { auditEvents, cli } from '../helpers/cli-process'
import { buildTestApp, decode, forEachDatabase, logIn, SECRET, testDatabaseUrl } from '../helpers'

type Test = tap.Test

// The commands that make and read accounts: db migrate, user create, user list. The ones that change
// and remove them are in users-manage.test.ts.
forEachDatabase(t, async (t, database) => {
  t.test('users made and listed from the CLI, seen by the service', async (t: Test) => {
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

    const audited = stderrs.join('')
    for (const password of ['correct horse battery', 'another good one', 'the boss password']) {
      t.notOk(audited.includes(password), 'no password in the audit lines')
    }
    t.notMatch(audited, /\$argon2/, 'nor a password hash')
  })
})
