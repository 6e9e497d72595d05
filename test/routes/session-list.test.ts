import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, decode, flaskClaims, forEachDatabase, forEachStore, forge, signUp, signUpAdmin, uniqueName } from '../helpers'
import { itemsStatus, listSessions, logInFrom, refresh, register, sleep, twoInstances, type Device } from '../helpers/sessions'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

// How a session ends and leaves the list (logout, expiry, the store's word…) is in session-list-ends.test.ts.
forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('two devices, on two instances: listed with agents and addresses; ending one leaves the other working', async (t) => {
      const [a, b] = await twoInstances(t, database, store)
      const user = await register(a)
      const longAgent = `Mozilla/5.0 (Phone) ${'x'.repeat(300)}`
      const laptop = await logInFrom(a, user.username, user.password, 'Mozilla/5.0 (Laptop)', '::ffff:192.0.2.10')
      await sleep(5)
      const phone = await logInFrom(b, user.username, user.password, longAgent, '2001:db8::5')

      const listed = await listSessions(b, laptop.access)
      t.equal(listed.statusCode, 200)
      const { sessions } = listed.json()
      t.same(sessions.map((session: { id: string }) => session.id), [phone.sid, laptop.sid], 'both sessions, newest first')
      t.match(sessions[0], { user_agent: longAgent.slice(0, 256), address: '2001:db8::5', current: false })
      t.equal(sessions[0].user_agent.length, 256, 'the agent cut to 256 characters')
      t.match(sessions[1], { user_agent: 'Mozilla/5.0 (Laptop)', address: '192.0.2.10', current: true }, 'an IPv4-mapped address shown as IPv4')
      for (const session of sessions) {
        for (const field of ['created_at', 'last_used_at', 'expires_at']) t.match(session[field], ISO, `${field} is ISO 8601`)
        t.equal(Date.parse(session.expires_at), decode(session.id === phone.sid ? phone.refresh : laptop.refresh).exp * 1000, 'expires with its refresh token')
      }
      t.same((await listSessions(a, phone.access)).json().sessions.map((session: { current: boolean }) => session.current), [true, false],
        'current marks the session of the presented token')

      const rotated = (await refresh(a, laptop.refresh)).json()
      const afterRefresh = (await listSessions(a, rotated.access_token)).json().sessions[1]
      t.ok(Date.parse(afterRefresh.last_used_at) > Date.parse(sessions[1].last_used_at), 'a refresh moves last_used_at')
      t.equal(afterRefresh.created_at, sessions[1].created_at, 'and not created_at')

      const ended = await a.inject({ method: 'DELETE', url: `/sessions/${phone.sid}`, headers: bearer(rotated.access_token) })
      t.equal(ended.statusCode, 200)
      t.same(ended.json(), { message: 'Session ended.' })
      t.equal(await itemsStatus(b, phone.access), 401, "the phone's access token stops on the other instance")
      t.equal((await refresh(b, phone.refresh)).json().error, 'token_revoked', 'and its refresh token')
      t.equal(await itemsStatus(b, rotated.access_token), 200, 'the laptop goes on')
      t.equal((await refresh(b, rotated.refresh_token)).statusCode, 200)
      t.same((await listSessions(b, rotated.access_token)).json().sessions.map((session: { id: string }) => session.id), [laptop.sid], 'the ended session is gone from the list')
      const again = await a.inject({ method: 'DELETE', url: `/sessions/${phone.sid}`, headers: bearer(rotated.access_token) })
      t.equal(again.statusCode, 404, 'an ended session is not found')
    })

    await t.test("another user's session id is 404, never 403", async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const stranger = await signUp(app)
      const strangerSid = decode(stranger.access).sid
      for (const id of [strangerSid, randomUUID()]) {
        const response = await app.inject({ method: 'DELETE', url: `/sessions/${id}`, headers: bearer(user.access) })
        t.equal(response.statusCode, 404)
        t.same(response.json(), { statusCode: 404, error: 'not_found', message: 'Session not found.' })
      }
      t.equal(await itemsStatus(app, stranger.access), 200, "the stranger's session is untouched")
      t.equal((await app.inject({ method: 'DELETE', url: `/sessions/${'x'.repeat(256)}`, headers: bearer(user.access) })).statusCode, 400)
      t.equal((await app.inject({ method: 'DELETE', url: `/sessions/${strangerSid}` })).statusCode, 401)

      // Signed with our key but naming no account of ours (a Flask identity that is a username).
      const foreign = forge(flaskClaims('alice'))
      for (const [method, url, payload] of [['GET', '/sessions'], ['DELETE', `/sessions/${strangerSid}`], ['GET', '/user/me'],
        ['POST', '/login/fresh', { password: 'whatever it is' }]] as const) {
        const response = await app.inject({ method, url, headers: bearer(foreign), payload })
        t.equal(response.statusCode, 401, `${method} ${url} with a token of no account`)
      }
      t.equal(await itemsStatus(app, stranger.access), 200)
    })

    await t.test('admins list and end any user\'s sessions; others get 403 admin_required', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const admin = await signUpAdmin(app)
      const user = await signUp(app)
      const stranger = await signUp(app)
      const userSid = decode(user.access).sid

      for (const [method, url] of [['GET', `/user/${user.id}/sessions`], ['DELETE', `/user/${user.id}/sessions/${userSid}`]] as const) {
        const denied = await app.inject({ method, url, headers: bearer(stranger.access) })
        t.equal(denied.statusCode, 403, `${method} ${url} by a non-admin`)
        t.equal(denied.json().error, 'admin_required')
        t.equal((await app.inject({ method, url, headers: bearer(user.access) })).json().error, 'admin_required', 'the user themselves too')
      }
      const listed = await listSessions(app, admin.access, `/user/${user.id}/sessions`)
      t.equal(listed.statusCode, 200)
      t.match(listed.json().sessions, [{ id: userSid, current: false, address: '127.0.0.1' }])
      t.equal(listed.json().sessions.length, 1)
      t.equal((await listSessions(app, admin.access, '/user/999999/sessions')).statusCode, 404, 'an unknown user')
      t.equal((await app.inject({ method: 'DELETE', url: `/user/${user.id}/sessions/${decode(stranger.access).sid}`, headers: bearer(admin.access) })).statusCode,
        404, "another user's session under this user's id")
      const ended = await app.inject({ method: 'DELETE', url: `/user/${user.id}/sessions/${userSid}`, headers: bearer(admin.access) })
      t.equal(ended.statusCode, 200)
      t.equal(await itemsStatus(app, user.access), 401, "the user's session ended")
      t.equal(await itemsStatus(app, stranger.access), 200)
      t.same((await listSessions(app, admin.access, `/user/${user.id}/sessions`)).json().sessions, [])
    })

    await t.test('POST /login/fresh: a fresh token in the same session, throttled as /login', async (t) => {
      const app = await buildTestApp(t, { database, store, env: { LOGIN_MAX_FAILURES: '2' } })
      const user = await signUp(app)
      const stale = (await refresh(app, user.refresh)).json()
      const createItem = async (token: string) =>
        await app.inject({ method: 'POST', url: `/item/${uniqueName('item')}`, headers: bearer(token), payload: { price: 1 } })
      t.equal((await createItem(stale.access_token)).json().error, 'fresh_token_required')

      const wrong = await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(stale.access_token), payload: { password: 'not the password' } })
      t.equal(wrong.statusCode, 401)
      t.equal(wrong.json().error, 'invalid_credentials')
      const fresh = await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(stale.access_token), payload: { password: user.password } })
      t.equal(fresh.statusCode, 200)
      t.same(Object.keys(fresh.json()).sort(), ['access_token', 'expires_in', 'token_type'], 'no refresh token')
      t.equal(fresh.headers['cache-control'], 'no-store')
      const claims = decode(fresh.json().access_token)
      t.equal(claims.fresh, true)
      t.equal(claims.sid, decode(user.access).sid, 'in the same session')
      t.equal((await createItem(fresh.json().access_token)).statusCode, 201, 'a fresh token')
      t.equal((await listSessions(app, fresh.json().access_token)).json().sessions.length, 1, 'no new session')

      t.equal((await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(user.refresh), payload: { password: user.password } })).json().error,
        'wrong_token_type')
      t.equal((await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(stale.access_token), payload: {} })).statusCode, 400)

      t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(fresh.json().access_token) })).statusCode, 200)
      for (const token of [stale.access_token, user.access]) t.equal(await itemsStatus(app, token), 401, 'logout of the session ends its other tokens too')
      t.equal((await refresh(app, stale.refresh_token)).json().error, 'token_revoked')

      const other = await signUp(app)
      for (let i = 0; i < 2; i++) {
        await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(other.access), payload: { password: 'a wrong guess' } })
      }
      const throttled = await app.inject({ method: 'POST', url: '/login/fresh', headers: bearer(other.access), payload: { password: other.password } })
      t.equal(throttled.statusCode, 429, 'failures count as failed logins: the right password waits too')
      t.ok(Number(throttled.headers['retry-after']) >= 1)
      t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: other.username, password: other.password } })).statusCode, 429,
        'and /login shares the count')
    })

    await t.test('GET /user/me', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const me = await app.inject({ method: 'GET', url: '/user/me', headers: bearer(user.access) })
      t.equal(me.statusCode, 200)
      t.same(me.json(), { id: user.id, username: user.username, is_admin: false })
      t.equal((await app.inject({ method: 'GET', url: '/user/me' })).statusCode, 401)
      t.equal((await app.inject({ method: 'GET', url: '/user/me', headers: bearer(user.refresh) })).json().error, 'wrong_token_type')
    })

    await t.test('SESSIONS_MAX_PER_USER: a login beyond it ends the session used longest ago', async (t) => {
      const app = await buildTestApp(t, { database, store, env: { SESSIONS_MAX_PER_USER: '3' } })
      const user = await register(app)
      const devices: Device[] = []
      for (let i = 0; i < 3; i++) {
        devices.push(await logInFrom(app, user.username, user.password, `device ${i}`, '127.0.0.1'))
        await sleep(5)
      }
      const first = (await refresh(app, devices[0].refresh)).json()
      await sleep(5)
      const fourth = await logInFrom(app, user.username, user.password, 'device 3', '127.0.0.1')
      t.equal(await itemsStatus(app, devices[1].access), 401, 'the session used longest ago (the second login) ends')
      t.equal((await refresh(app, devices[1].refresh)).json().error, 'token_revoked', 'revoked, not only unlisted')
      for (const token of [first.access_token, devices[2].access, fourth.access]) t.equal(await itemsStatus(app, token), 200)
      const listed = (await listSessions(app, fourth.access)).json().sessions.map((session: { id: string }) => session.id)
      t.same(listed, [fourth.sid, devices[2].sid, devices[0].sid])
      const other = await signUp(app)
      t.equal(await itemsStatus(app, other.access), 200, "another user's sessions do not count")
    })
  })
})
