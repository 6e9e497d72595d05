import t from 'tap'
import { bearer, buildTestApp, decode, forEachDatabase, logIn, signUp } from '../helpers'

// An account is an admin when its is_admin column is set or ADMIN_USERNAMES names it.
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

  t.test('ADMIN_USERNAMES still makes an admin with the column clear', async (t) => {
    const app = await buildTestApp(t, { database, env: { ADMIN_USERNAMES: 'boss_by_name' } })
    const boss = await signUp(app, 'boss_by_name')
    t.equal((await app.users.findById(boss.id))?.is_admin, false)
    t.equal(decode(boss.access).is_admin, true)
  })
})
