import t from 'tap'
import { bearer, buildTestApp, flaskClaims, forge, forEachStore, signUp, signUpAdmin } from '../helpers'

forEachStore(t, async (t, store) => {
  const app = await buildTestApp(t, { store })
  const user = await signUp(app)
  const root = await signUpAdmin(app)
  const verify = async (token?: string, query = '') =>
    await app.inject({ method: 'GET', url: `/auth/verify${query}`, headers: token === undefined ? {} : bearer(token) })

  const ok = await verify(user.access)
  t.equal(ok.statusCode, 204)
  t.equal(ok.body, '')
  t.equal(ok.headers['x-auth-user-id'], String(user.id))
  t.equal(ok.headers['x-auth-is-admin'], 'false')
  t.equal((await verify(root.access)).headers['x-auth-is-admin'], 'true')

  const none = await verify()
  t.equal(none.statusCode, 401)
  t.equal(none.json().error, 'authorization_required')
  t.notOk('x-auth-user-id' in none.headers)
  t.equal((await verify(forge(flaskClaims(user.id, { exp: 1 })))).statusCode, 401, 'expired')
  t.equal((await verify(user.refresh)).statusCode, 401, 'a refresh token')

  t.equal((await verify(user.access, '?fresh=1')).statusCode, 204, 'a login token is fresh')
  const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).json().access_token
  const stale = await verify(refreshed, '?fresh=1')
  t.equal(stale.statusCode, 403)
  t.equal(stale.json().error, 'fresh_token_required')
  const notAdmin = await verify(user.access, '?admin=1')
  t.equal(notAdmin.statusCode, 403)
  t.equal(notAdmin.json().error, 'admin_required')
  t.equal((await verify(root.access, '?admin=1&fresh=1')).statusCode, 204)
  t.equal((await verify(user.access, '?admin=yes')).statusCode, 400)

  await app.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })
  const revoked = await verify(user.access)
  t.equal(revoked.statusCode, 401)
  t.equal(revoked.json().error, 'token_revoked')
})
