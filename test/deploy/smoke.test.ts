import t from 'tap'
import { buildTestApp, forEachDatabase, forEachStore, signUp, bearer } from '../helpers'

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    const app = await buildTestApp(t, { database, store })
    const user = await signUp(app)
    const res = await app.inject({ method: 'GET', url: '/items', headers: bearer(user.access) })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { items: [] })
  })
})
