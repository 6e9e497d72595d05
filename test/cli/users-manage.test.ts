import t from 'tap'
import { auditEvents, cli } from '../helpers/cli-process'
import { bearer, buildTestApp, decode, forEachDatabase, logIn, SECRET, signUp, signUpAdmin, testDatabaseUrl } from '../helpers'

type Test = tap.Test

// The commands that change and remove accounts: user set-admin, user revoke-sessions, user delete.
// Their accounts are made through the service; users-create.test.ts makes them with the CLI.
forEachDatabase(t, async (t, database) => {
  t.test('users demoted, promoted, revoked and deleted from the CLI, seen by the service', async (t: Test) => {
    const databaseUrl = await testDatabaseUrl(t, database)
    const env = { DATABASE_URL: databaseUrl, JWT_SECRET_KEY: SECRET }
    const app = await buildTestApp(t, { databaseUrl })
    const admin = await signUpAdmin(app, 'cli_admin', 'correct horse battery')
    t.equal(decode(admin.access).is_admin, true, 'the admin flag is in the token')
    const plain = await signUp(app, 'plain_user', 'another good one')

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
    const audited = [offAgain.stderr, onAgain.stderr, revoked.stderr, deleted.stderr].join('')
    for (const password of ['correct horse battery', 'another good one']) {
      t.notOk(audited.includes(password), 'no password in the audit lines')
    }
    t.notMatch(audited, /\$argon2/, 'nor a password hash')
    t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(again.access) })).json().error, 'token_revoked')
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'plain_user', password: 'another good one' } })
    t.equal(login.statusCode, 401)
  })
})
