import t from 'tap'
import { bearer, buildTestApp, decode, forEachDatabase, forEachStore, logIn, signUp, signUpAdmin, uniqueName } from '../helpers'

const ADMIN = 'admin_' + uniqueName()

forEachDatabase(t, async (t, database) => {
  t.test('register', async (t) => {
    const app = await buildTestApp(t, { database })
    const username = uniqueName()
    const created = await app.inject({ method: 'POST', url: '/register', payload: { username, password: 'password1' } })
    t.equal(created.statusCode, 201)
    t.match(created.json(), { message: 'User created successfully.', id: Number })

    const again = await app.inject({ method: 'POST', url: '/register', payload: { username, password: 'password2' } })
    t.equal(again.statusCode, 409)
    t.same(again.json(), { statusCode: 409, error: 'user_exists', message: `A user with username '${username}' already exists.` })

    for (const [payload, field] of [
      [{ username: 'ab', password: 'password1' }, 'username'],
      [{ username: 'x'.repeat(65), password: 'password1' }, 'username'],
      [{ username: uniqueName(), password: 'short' }, 'password'],
      [{ username: uniqueName(), password: 'p'.repeat(1025) }, 'password'],
      [{ username: uniqueName() }, 'password']
    ] as const) {
      const response = await app.inject({ method: 'POST', url: '/register', payload })
      t.equal(response.statusCode, 400, `${JSON.stringify(payload).slice(0, 60)} is refused`)
      t.equal(response.json().error, 'validation_error')
      t.match(response.json().message, field)
    }
  })

  t.test('20 concurrent registrations of one username give one 201 and 409s', async (t) => {
    const app = await buildTestApp(t, { database })
    const username = uniqueName()
    const responses = await Promise.all(Array.from({ length: 20 }, async () =>
      await app.inject({ method: 'POST', url: '/register', payload: { username, password: 'password1' } })))
    t.same(responses.map((r) => r.statusCode).sort(), [201, ...Array(19).fill(409)])
  })

  t.test('login', async (t) => {
    const app = await buildTestApp(t, { database, env: { JWT_ACCESS_TOKEN_EXPIRES: '600', JWT_REFRESH_TOKEN_EXPIRES: '7200' } })
    const user = await signUp(app)

    const response = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
    t.equal(response.statusCode, 200)
    const body = response.json()
    t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
    t.equal(body.token_type, 'Bearer')
    t.equal(body.expires_in, 600)

    const access = decode(body.access_token)
    const refresh = decode(body.refresh_token)
    t.match(access, { sub: String(user.id), type: 'access', fresh: true, is_admin: false, jti: String, sid: String })
    t.equal(access.exp - access.iat, 600)
    t.equal(access.nbf, access.iat)
    t.match(refresh, { sub: String(user.id), type: 'refresh', fresh: false, sid: access.sid })
    t.equal(refresh.exp - refresh.iat, 7200)
    t.not(access.jti, refresh.jti)
    t.same(JSON.parse(Buffer.from(body.access_token.split('.')[0], 'base64url').toString()), { alg: 'HS256', typ: 'JWT' })

    const invalid = { statusCode: 401, error: 'invalid_credentials', message: 'Invalid Credentials!' }
    const wrong = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: 'wrong password' } })
    t.equal(wrong.statusCode, 401)
    t.same(wrong.json(), invalid)
    t.equal(wrong.headers['www-authenticate'], 'Bearer')
    const unknown = await app.inject({ method: 'POST', url: '/login', payload: { username: uniqueName(), password: user.password } })
    t.same(unknown.json(), invalid, 'an unknown user gets the same answer as a wrong password')
  })

  t.test('refresh gives a non-fresh access token of the same session', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const response = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
    t.equal(response.statusCode, 200)
    t.same(Object.keys(response.json()).sort(), ['access_token', 'refresh_token'], 'rotation (the default) answers a new refresh token')
    t.equal(response.headers['cache-control'], 'no-store')
    const claims = decode(response.json().access_token)
    t.match(claims, { sub: String(user.id), type: 'access', fresh: false, sid: decode(user.refresh).sid })
    t.match(decode(response.json().refresh_token), { type: 'refresh', sid: decode(user.refresh).sid })

    const read = await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(response.json().access_token) })
    t.equal(read.statusCode, 200)
  })

  t.test('GET /user/:id: self or admin, never a hash', async (t) => {
    const app = await buildTestApp(t, { database })
    const alice = await signUp(app)
    const bob = await signUp(app)
    const admin = await signUpAdmin(app, ADMIN)

    const own = await app.inject({ method: 'GET', url: `/user/${alice.id}`, headers: bearer(alice.access) })
    t.equal(own.statusCode, 200)
    t.same(own.json(), { id: alice.id, username: alice.username, is_admin: false })

    const other = await app.inject({ method: 'GET', url: `/user/${bob.id}`, headers: bearer(alice.access) })
    t.equal(other.statusCode, 403)
    t.equal(other.json().error, 'forbidden')

    t.equal(decode(admin.access).is_admin, true)
    const byAdmin = await app.inject({ method: 'GET', url: `/user/${bob.id}`, headers: bearer(admin.access) })
    t.equal(byAdmin.statusCode, 200)
    t.same(byAdmin.json(), { id: bob.id, username: bob.username, is_admin: false })
    const adminSelf = await app.inject({ method: 'GET', url: `/user/${admin.id}`, headers: bearer(admin.access) })
    t.same(adminSelf.json(), { id: admin.id, username: ADMIN, is_admin: true })

    const missing = await app.inject({ method: 'GET', url: '/user/999999', headers: bearer(admin.access) })
    t.equal(missing.statusCode, 404)
    t.same(missing.json(), { statusCode: 404, error: 'not_found', message: 'User not found.' })
    const missingForUser = await app.inject({ method: 'GET', url: '/user/999999', headers: bearer(alice.access) })
    t.equal(missingForUser.statusCode, 403, 'a non-admin learns nothing about other ids')

    const anonymous = await app.inject({ method: 'GET', url: `/user/${alice.id}` })
    t.equal(anonymous.statusCode, 401)
    t.equal(anonymous.json().error, 'authorization_required')
  })

  forEachStore(t, async (t, store) => {
    await t.test('logout revokes the access token and the refresh token of the same login only', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const other = await logIn(app, user.username, user.password)
      const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).json().access_token

      const out = await app.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })
      t.equal(out.statusCode, 200)
      t.same(out.json(), { message: 'Successfully logged out.' })

      const revoked = { statusCode: 401, error: 'token_revoked', message: 'The token has been revoked.' }
      for (const [what, request] of [
        ['the access token', { method: 'GET', url: `/user/${user.id}`, headers: bearer(user.access) }],
        ['the refresh token', { method: 'POST', url: '/refresh', headers: bearer(user.refresh) }],
        ['an access token refreshed in that session', { method: 'GET', url: `/user/${user.id}`, headers: bearer(refreshed) }],
        ['a second logout', { method: 'POST', url: '/logout', headers: bearer(user.access) }]
      ] as const) {
        const response = await app.inject(request)
        t.equal(response.statusCode, 401, `${what} is refused`)
        t.same(response.json(), revoked)
        t.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token"')
      }

      const stillIn = await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(other.access) })
      t.equal(stillIn.statusCode, 200, 'another login of the same user is untouched')
      const stillRefreshes = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(other.refresh) })
      t.equal(stillRefreshes.statusCode, 200)
    })

    await t.test('DELETE /user/:id: fresh, self or admin; every token of the user stops at once', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const alice = await signUp(app)
      const aliceAgain = await logIn(app, alice.username, alice.password)
      const bob = await signUp(app)
      const root = await signUpAdmin(app)

      const notYours = await app.inject({ method: 'DELETE', url: `/user/${bob.id}`, headers: bearer(alice.access) })
      t.equal(notYours.statusCode, 403)
      t.equal(notYours.json().error, 'forbidden')

      const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(alice.refresh) })).json().access_token
      const stale = await app.inject({ method: 'DELETE', url: `/user/${alice.id}`, headers: bearer(refreshed) })
      t.equal(stale.statusCode, 401)
      t.equal(stale.json().error, 'fresh_token_required')

      const deleted = await app.inject({ method: 'DELETE', url: `/user/${alice.id}`, headers: bearer(alice.access) })
      t.equal(deleted.statusCode, 200)
      t.same(deleted.json(), { message: 'User deleted.' })

      for (const token of [alice.access, aliceAgain.access, refreshed]) {
        const response = await app.inject({ method: 'GET', url: '/items', headers: bearer(token) })
        t.equal(response.statusCode, 401)
        t.equal(response.json().error, 'token_revoked')
      }
      for (const token of [alice.refresh, aliceAgain.refresh]) {
        const refresh = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(token) })
        t.equal(refresh.json().error, 'token_revoked')
      }
      const login = await app.inject({ method: 'POST', url: '/login', payload: { username: alice.username, password: alice.password } })
      t.equal(login.statusCode, 401)

      const byAdmin = await app.inject({ method: 'DELETE', url: `/user/${bob.id}`, headers: bearer(root.access) })
      t.equal(byAdmin.statusCode, 200)
      const gone = await app.inject({ method: 'GET', url: `/user/${bob.id}`, headers: bearer(root.access) })
      t.equal(gone.statusCode, 404)
      const again = await app.inject({ method: 'DELETE', url: `/user/${bob.id}`, headers: bearer(root.access) })
      t.equal(again.statusCode, 404)
      t.equal((await app.inject({ method: 'GET', url: '/items', headers: bearer(root.access) })).statusCode, 200,
        "the admin's own tokens are untouched")
    })
  })

  t.test('tokens expire after their configured lifetime', async (t) => {
    const app = await buildTestApp(t, { database, env: { JWT_ACCESS_TOKEN_EXPIRES: '1', JWT_REFRESH_TOKEN_EXPIRES: '1' } })
    const user = await signUp(app)
    t.equal((await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(user.access) })).statusCode, 200)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    for (const request of [
      { method: 'GET', url: `/user/${user.id}`, headers: bearer(user.access) },
      { method: 'POST', url: '/refresh', headers: bearer(user.refresh) }
    ] as const) {
      const response = await app.inject(request)
      t.equal(response.statusCode, 401)
      t.same(response.json(), { statusCode: 401, error: 'token_expired', message: 'The token has expired.' })
    }
  })
})
