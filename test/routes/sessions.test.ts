import t from 'tap'
import { bearer, buildTestApp, forEachDatabase, forEachStore, logIn, signUp, signUpAdmin } from '../helpers'
import { itemsStatus, refresh } from '../helpers/sessions'

// Throttled logins, which wait for their window to end, are in test/accounts/login-throttle-window.test.ts.

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('refresh rotation: a spent refresh token presented again ends the whole session', async (t) => {
      const app = await buildTestApp(t, { database, store, env: { JWT_REFRESH_REUSE_INTERVAL: '0' } })
      const user = await signUp(app)
      const other = await logIn(app, user.username, user.password)

      const first = await refresh(app, user.refresh)
      t.equal(first.statusCode, 200)
      const { access_token: access2, refresh_token: refresh2 } = first.json()
      const second = await refresh(app, refresh2)
      t.equal(second.statusCode, 200, 'the new refresh token works once')
      const { access_token: access3, refresh_token: refresh3 } = second.json()
      t.equal(await itemsStatus(app, access3), 200)

      const replay = await refresh(app, user.refresh)
      t.equal(replay.statusCode, 401)
      t.same(replay.json(), { statusCode: 401, error: 'token_revoked', message: 'The token has been revoked.' })
      for (const token of [user.access, access2, access3]) t.equal(await itemsStatus(app, token), 401, 'every access token of the session stops')
      t.equal((await refresh(app, refresh3)).statusCode, 401, 'and its latest refresh token')
      t.equal(await itemsStatus(app, other.access), 200, 'another session of the user goes on')
      t.equal((await refresh(app, other.refresh)).statusCode, 200)
    })

    await t.test('POST /logout/all ends every session of the user, and only theirs', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const sessions = [await logIn(app, user.username, user.password), await logIn(app, user.username, user.password)]
      const bystander = await signUp(app)
      const out = await app.inject({ method: 'POST', url: '/logout/all', headers: bearer(user.access) })
      t.equal(out.statusCode, 200)
      t.same(out.json(), { message: 'Every session logged out.' })
      for (const session of [user, ...sessions]) {
        t.equal(await itemsStatus(app, session.access), 401)
        t.equal((await refresh(app, session.refresh)).json().error, 'token_revoked')
      }
      t.equal(await itemsStatus(app, bystander.access), 200)
      const again = await logIn(app, user.username, user.password)
      t.equal(await itemsStatus(app, again.access), 200, 'a login right after works')
    })

    await t.test('PUT /user/:id/password: fresh, self, old password; ends every other session', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const other = await logIn(app, user.username, user.password)
      const change = async (token: string, id: number, old_password: string, new_password = 'a brand new secret') =>
        await app.inject({ method: 'PUT', url: `/user/${id}/password`, headers: bearer(token), payload: { old_password, new_password } })

      const stale = (await refresh(app, other.refresh)).json().access_token
      t.equal((await change(stale, user.id, user.password)).json().error, 'fresh_token_required')
      const stranger = await signUp(app)
      t.equal((await change(stranger.access, user.id, user.password)).statusCode, 403)
      const wrong = await change(user.access, user.id, 'not the password')
      t.equal(wrong.statusCode, 401)
      t.equal(wrong.json().error, 'invalid_credentials')
      t.equal((await change(user.access, user.id, user.password, 'short')).statusCode, 400)

      const changed = await change(user.access, user.id, user.password)
      t.equal(changed.statusCode, 200)
      t.match(changed.json(), { message: 'Password changed.', access_token: String, refresh_token: String, token_type: 'Bearer' })
      t.equal(changed.headers['cache-control'], 'no-store')
      for (const token of [user.access, other.access, stale]) t.equal(await itemsStatus(app, token), 401, 'old tokens stop')
      t.equal(await itemsStatus(app, changed.json().access_token), 200, 'the new pair works at once')
      t.equal((await refresh(app, changed.json().refresh_token)).statusCode, 200)
      const oldLogin = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
      t.equal(oldLogin.statusCode, 401)
      t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: 'a brand new secret' } })).statusCode, 200)
      t.equal(await itemsStatus(app, stranger.access), 200, "another user's sessions are untouched")
    })
  })

  t.test('usernames are trimmed, NFKC-normalised and case-folded', async (t) => {
    const app = await buildTestApp(t, { database })
    const created = await app.inject({ method: 'POST', url: '/register', payload: { username: ' Jose ', password: 'password one' } })
    t.equal(created.statusCode, 201)
    for (const username of ['jose', 'JOSE', 'ｊｏｓｅ']) {
      const again = await app.inject({ method: 'POST', url: '/register', payload: { username, password: 'password two' } })
      t.equal(again.statusCode, 409, `${username} is the same account`)
      t.equal(again.json().error, 'user_exists')
    }
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'ＪＯＳＥ', password: 'password one' } })
    t.equal(login.statusCode, 200)
    const me = await app.inject({ method: 'GET', url: `/user/${created.json().id}`, headers: bearer(login.json().access_token) })
    t.equal(me.json().username, 'jose')
    const short = await app.inject({ method: 'POST', url: '/register', payload: { username: '  ab   ', password: 'password one' } })
    t.equal(short.statusCode, 400)
    t.equal(short.json().error, 'validation_error')
    const unicode = await app.inject({ method: 'POST', url: '/register', payload: { username: 'zoë', password: 'pässwörd ✓ long enough' } })
    t.equal(unicode.statusCode, 201)
    t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'ZOË', password: 'pässwörd ✓ long enough' } })).statusCode, 200)
    t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'zoë', password: 'pässwörd ✓ long enough!' } })).statusCode, 401,
      'passwords are compared whole')
  })

  t.test('with rotation off, /refresh answers only an access token and the refresh token stays valid', async (t) => {
    const app = await buildTestApp(t, { database, env: { JWT_REFRESH_ROTATION: 'false' } })
    const user = await signUp(app)
    for (let i = 0; i < 3; i++) {
      const response = await refresh(app, user.refresh)
      t.equal(response.statusCode, 200)
      t.same(Object.keys(response.json()), ['access_token'])
    }
  })

  t.test('a demoted admin loses admin rights on the next request', async (t) => {
    const app = await buildTestApp(t, { database })
    const root = await signUpAdmin(app)
    await app.inject({ method: 'PUT', url: '/item/lamp', headers: bearer(root.access), payload: { price: 1 } })
    await app.users.setAdmin(root.id, false)
    const denied = await app.inject({ method: 'DELETE', url: '/item/lamp', headers: bearer(root.access) })
    t.equal(denied.statusCode, 403, 'the token still says is_admin, the account no longer does')
    t.equal(denied.json().error, 'admin_required')
  })

  t.test('a hash made with older, cheaper settings is replaced at the next login', async (t) => {
    const app = await buildTestApp(t, { database })
    const { hash } = await import('@node-rs/argon2')
    const weak = await hash('an old password', { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 })
    const id = await app.users.create('olduser', weak)
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username: 'olduser', password: 'an old password' } })
    t.equal(login.statusCode, 200)
    const stored = (await app.users.findById(id))!.password_hash
    t.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'olduser', password: 'an old password' } })).statusCode, 200)
  })
})
