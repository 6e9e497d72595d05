import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, decode, forEachDatabase, logIn, signUp, signUpAdmin } from '../helpers'

type Test = tap.Test

// An account is an admin when its is_admin column is set, by an operator; never by a name or an id.
forEachDatabase(t, async (t, database) => {
  t.test('the is_admin column makes an admin, at the next login; clearing it counts at once', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    await app.inject({ method: 'PUT', url: '/item/gadget', headers: bearer(user.access), payload: { price: 2 } })
    const deleteItem = async (token: string) => await app.inject({ method: 'DELETE', url: '/item/gadget', headers: bearer(token) })

    t.equal((await deleteItem(user.access)).statusCode, 403)
    await app.users.setAdmin(user.id, true)
    t.equal((await deleteItem(user.access)).statusCode, 403, 'a token minted before carries is_admin: false')
    const promoted = await logIn(app, user.username, user.password)
    t.equal(decode(promoted.access).is_admin, true)
    const self = await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(promoted.access) })
    t.same(self.json(), { id: user.id, username: user.username, is_admin: true })

    await app.users.setAdmin(user.id, false)
    const demoted = await deleteItem(promoted.access)
    t.equal(demoted.statusCode, 403, 'a demotion counts at once, whatever the token says')
    t.equal(demoted.json().error, 'admin_required')
    await app.users.setAdmin(user.id, true)
    t.equal((await deleteItem(promoted.access)).statusCode, 200)

    const listed = (await app.users.list()).find((row) => row.id === user.id)
    t.match(listed, { username: user.username, is_admin: true, created_at: Number })
  })

  t.test('first to register on a fresh install: id 1, and no admin', async (t) => {
    const app = await buildTestApp(t, { database })
    const first = await signUp(app, 'admin')
    t.equal(first.id, 1, 'the first account gets id 1')
    await assertNoAdminRights(t, app, first)
  })

  t.test("re-registering a deleted admin's name gives no admin rights", async (t) => {
    // Before: ADMIN_USERNAMES=admin made whoever registered `admin` an admin. Now it stops the start.
    const named = await buildTestApp(t, { database, env: { ADMIN_USERNAMES: 'admin' } }).catch((error: Error) => error)
    if (named instanceof Error) {
      t.match(named.message, /ADMIN_USERNAMES: no longer supported[\s\S]*gatehouse user set-admin <name> on/, 'ADMIN_USERNAMES stops the start')
    } else {
      const squatter = await signUp(named, 'ADMIN')
      await assertNoAdminRights(t, named, squatter)
    }

    const app = await buildTestApp(t, { database })
    const admin = await signUpAdmin(app, 'admin')
    t.equal(decode(admin.access).is_admin, true, 'an operator made the admin')
    const gone = await app.inject({ method: 'DELETE', url: `/user/${admin.id}`, headers: bearer(admin.access) })
    t.equal(gone.statusCode, 200, 'the admin account is deleted')
    for (const name of ['admin', 'ADMIN']) {
      const register = await app.inject({ method: 'POST', url: '/register', payload: { username: name, password: 'correct horse battery' } })
      if (name === 'ADMIN') { t.equal(register.statusCode, 409, 'ADMIN is the same name'); continue }
      t.equal(register.statusCode, 201, 'the name is free again')
      const squatter = { ...await logIn(app, name, 'correct horse battery'), id: register.json().id }
      await assertNoAdminRights(t, app, squatter)
    }
  })
})

async function assertNoAdminRights (t: Test, app: App, user: { id: number, access: string }): Promise<void> {
  t.equal(decode(user.access).is_admin, false, 'its token says is_admin: false')
  const other = await signUp(app)
  t.equal((await app.inject({ method: 'GET', url: `/user/${other.id}`, headers: bearer(user.access) })).statusCode, 403, "it cannot read another's account")
  await app.inject({ method: 'PUT', url: '/item/gadget', headers: bearer(other.access), payload: { price: 2 } })
  t.equal((await app.inject({ method: 'DELETE', url: '/item/gadget', headers: bearer(user.access) })).statusCode, 403, 'nor delete an item')
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify?admin=1', headers: bearer(user.access) })).statusCode, 403, 'nor pass the gateway as admin')
  t.equal((await app.users.findById(user.id))?.is_admin, false)
}
