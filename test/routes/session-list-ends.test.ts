import t from 'tap'
import { bearer, buildTestApp, decode, forEachDatabase, forEachStore, signUpAdmin } from '../helpers'
import { listSessions, logInFrom, refresh, register, sleep } from '../helpers/sessions'

// Ended sessions leave the list. One test waits for sessions to expire (3 s), with seconds to spare
// before that, so the four database/store combinations wait at the same time.
forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('a session the store says has ended is not listed, whoever ended it (the admin CLI, a raced refresh)', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await register(app)
      const [one, two] = [await logInFrom(app, user.username, user.password, 'a', '127.0.0.1'), await logInFrom(app, user.username, user.password, 'b', '127.0.0.1')]
      // Written to the store alone, as `gatehouse user revoke-sessions` or a refresh racing a DELETE leaves it.
      await app.revocation.revokeSession(String(user.id), one.sid, app.tokens.sessionExpiresAt())
      t.same((await listSessions(app, two.access)).json().sessions.map((session: { id: string }) => session.id), [two.sid])
      t.same((await app.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute()).map((row) => row.id), [two.sid],
        'and its row is deleted when seen')
      await app.revocation.revokeUser(String(user.id), Date.now(), app.tokens.sessionExpiresAt())
      const after = await logInFrom(app, user.username, user.password, 'c', '127.0.0.1')
      t.same((await listSessions(app, after.access)).json().sessions.map((session: { id: string }) => session.id), [after.sid], 'a user-wide cut-off too')
    })

    await t.test('an ended session is gone from the list: logout, logout everywhere, password change, refresh reuse, expiry, deletion', async (t) => {
      const app = await buildTestApp(t, { database, store, env: { JWT_REFRESH_REUSE_INTERVAL: '0', JWT_REFRESH_TOKEN_EXPIRES: '3' } })
      const admin = await signUpAdmin(app)
      const user = await register(app)
      const ids = async (): Promise<string[]> =>
        (await listSessions(app, admin.access, `/user/${user.id}/sessions`)).json().sessions.map((session: { id: string }) => session.id)
      const login = async () => await logInFrom(app, user.username, user.password, 'test', '127.0.0.1')

      const [one, two, three] = [await login(), await login(), await login()]
      await app.inject({ method: 'POST', url: '/logout', headers: bearer(one.access) })
      t.same((await ids()).sort(), [two.sid, three.sid].sort(), 'logout')
      await refresh(app, two.refresh)
      await refresh(app, two.refresh)
      t.same(await ids(), [three.sid], 'refresh reuse')
      await app.inject({ method: 'POST', url: '/logout/all', headers: bearer(three.access) })
      t.same(await ids(), [], 'logout everywhere')

      const [four, five] = [await login(), await login()]
      const changed = await app.inject({
        method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(four.access), payload: { old_password: user.password, new_password: 'another password' }
      })
      t.equal(changed.statusCode, 200)
      t.same(await ids(), [decode(changed.json().access_token).sid], 'password change: only the new session')
      t.not(decode(changed.json().access_token).sid, five.sid)

      await sleep(3100)
      t.same(await ids(), [], 'expiry')
      const late = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: 'another password' } })
      t.equal((await ids()).length, 1)
      t.equal((await app.inject({ method: 'DELETE', url: `/user/${user.id}`, headers: bearer(late.json().access_token) })).statusCode, 200)
      t.equal((await listSessions(app, admin.access, `/user/${user.id}/sessions`)).statusCode, 404, 'deletion: no user, no sessions')
      t.same(await app.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute(), [], 'and no rows left')
    })
  }, { concurrently: true })
}, { concurrently: true })
