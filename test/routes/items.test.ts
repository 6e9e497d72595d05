import t from 'tap'
import { bearer, buildTestApp, forEachDatabase, signUp, signUpAdmin, testDatabaseUrl } from '../helpers'

const json = (price: unknown) => ({ price })

forEachDatabase(t, async (t, database) => {
  t.test('items API', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const root = await signUpAdmin(app)
    const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).json().access_token

    await t.test('POST /item/:name wants a fresh token and creates once', async (t) => {
      const created = await app.inject({ method: 'POST', url: '/item/chair', headers: bearer(user.access), payload: json(12.5) })
      t.equal(created.statusCode, 201)
      t.match(created.json(), { id: Number, name: 'chair', price: 12.5 })

      const twice = await app.inject({ method: 'POST', url: '/item/chair', headers: bearer(user.access), payload: json(1) })
      t.equal(twice.statusCode, 409)
      t.same(twice.json(), { statusCode: 409, error: 'item_exists', message: "An item with name 'chair' already exists." })

      const stale = await app.inject({ method: 'POST', url: '/item/table', headers: bearer(refreshed), payload: json(1) })
      t.equal(stale.statusCode, 401)
      t.same(stale.json(), { statusCode: 401, error: 'fresh_token_required', message: 'The token is not fresh.' })

      const anonymous = await app.inject({ method: 'POST', url: '/item/table', payload: json(1) })
      t.equal(anonymous.statusCode, 401)
      t.equal(anonymous.json().error, 'authorization_required')
    })

    await t.test('20 concurrent POSTs of one item name give one 201 and 409s', async (t) => {
      const responses = await Promise.all(Array.from({ length: 20 }, async () =>
        await app.inject({ method: 'POST', url: '/item/race', headers: bearer(user.access), payload: json(3) })))
      t.same(responses.map((r) => r.statusCode).sort(), [201, ...Array(19).fill(409)])
    })

    await t.test('GET /item/:name wants an access token', async (t) => {
      const found = await app.inject({ method: 'GET', url: '/item/chair', headers: bearer(refreshed) })
      t.equal(found.statusCode, 200)
      t.match(found.json(), { name: 'chair', price: 12.5 })
      t.same(Object.keys(found.json()).sort(), ['id', 'name', 'price'])

      const missing = await app.inject({ method: 'GET', url: '/item/nothing', headers: bearer(refreshed) })
      t.equal(missing.statusCode, 404)
      t.same(missing.json(), { statusCode: 404, error: 'not_found', message: 'Item not found.' })

      const anonymous = await app.inject({ method: 'GET', url: '/item/chair' })
      t.equal(anonymous.statusCode, 401)
      t.equal(anonymous.headers['www-authenticate'], 'Bearer')
    })

    await t.test('PUT /item/:name updates (200) or creates (201), with any access token', async (t) => {
      const updated = await app.inject({ method: 'PUT', url: '/item/chair', headers: bearer(refreshed), payload: json(20) })
      t.equal(updated.statusCode, 200)
      t.match(updated.json(), { name: 'chair', price: 20 })
      const created = await app.inject({ method: 'PUT', url: '/item/lamp', headers: bearer(refreshed), payload: json(0) })
      t.equal(created.statusCode, 201)
      t.match(created.json(), { name: 'lamp', price: 0 })

      for (const price of [-1, 'abc', null, '12']) {
        const bad = await app.inject({ method: 'PUT', url: '/item/lamp', headers: bearer(refreshed), payload: json(price) })
        t.equal(bad.statusCode, 400, `price ${JSON.stringify(price)} is refused`)
        t.equal(bad.json().error, 'validation_error')
        t.match(bad.json().message, 'price')
      }
      const lamp = await app.inject({ method: 'GET', url: '/item/lamp', headers: bearer(refreshed) })
      t.equal(lamp.json().price, 0, 'a refused update changes nothing')
    })

    await t.test('GET /items: names for everyone, details for a signed-in user', async (t) => {
      const anonymous = await app.inject({ method: 'GET', url: '/items' })
      t.equal(anonymous.statusCode, 200)
      t.equal(anonymous.headers['content-type'], 'application/json; charset=utf-8')
      t.same(anonymous.json(), { items: ['chair', 'race', 'lamp'], message: 'More data available if you log in.' })

      const signedIn = await app.inject({ method: 'GET', url: '/items', headers: bearer(refreshed) })
      t.equal(signedIn.statusCode, 200)
      t.equal(signedIn.headers['content-type'], 'application/json; charset=utf-8')
      t.match(signedIn.json(), { items: [{ name: 'chair', price: 20 }, { name: 'race', price: 3 }, { name: 'lamp', price: 0 }] })
      t.same(Object.keys(signedIn.json()), ['items'])
    })

    await t.test('DELETE /item/:name is for admins', async (t) => {
      const denied = await app.inject({ method: 'DELETE', url: '/item/chair', headers: bearer(user.access) })
      t.equal(denied.statusCode, 403)
      t.same(denied.json(), { statusCode: 403, error: 'admin_required', message: 'Admin privilege required.' })

      const deleted = await app.inject({ method: 'DELETE', url: '/item/chair', headers: bearer(root.access) })
      t.equal(deleted.statusCode, 200)
      t.same(deleted.json(), { message: 'Item deleted.' })

      const again = await app.inject({ method: 'DELETE', url: '/item/chair', headers: bearer(root.access) })
      t.equal(again.statusCode, 404)
      const gone = await app.inject({ method: 'GET', url: '/item/chair', headers: bearer(root.access) })
      t.equal(gone.statusCode, 404)
    })
  })

  t.test('GET /items pages by id: 100 by default, up to 1000, with a link to the next page', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const names = Array.from({ length: 103 }, (_, i) => `thing${String(i).padStart(3, '0')}`)
    for (const name of names) {
      t.equal((await app.inject({ method: 'PUT', url: `/item/${name}`, headers: bearer(user.access), payload: json(1) })).statusCode, 201)
    }

    const first = (await app.inject({ method: 'GET', url: '/items' })).json()
    t.same(first.items, names.slice(0, 100), 'anonymous: the first 100 names')
    t.match(first.next, /^\/items\?after=\d+&limit=100$/)
    const rest = (await app.inject({ method: 'GET', url: first.next })).json()
    t.same(rest, { items: names.slice(100), message: 'More data available if you log in.' }, 'the last page has no next link')

    const collected: string[] = []
    let url: string | undefined = '/items?limit=40'
    while (url !== undefined) {
      const page: { items: Array<{ name: string }>, next?: string } = (await app.inject({ method: 'GET', url, headers: bearer(user.access) })).json()
      t.ok(page.items.length <= 40)
      collected.push(...page.items.map((item: { name: string }) => item.name))
      url = page.next
    }
    t.same(collected, names, 'following next links with a token visits every item once, in order')

    const exact = (await app.inject({ method: 'GET', url: '/items?limit=103' })).json()
    t.equal(exact.items.length, 103)
    t.notOk('next' in exact, 'no next link when the page holds the last item')

    for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'limit=-1', 'after=x', 'after=-5']) {
      const response = await app.inject({ method: 'GET', url: `/items?${query}` })
      t.equal(response.statusCode, 400, query)
      t.equal(response.json().error, 'validation_error')
      t.match(response.json().message, /querystring\/(limit|after)/)
    }
  })

  t.test("anonymous pages are cached briefly: this instance's writes show at once, another's within the TTL", async (t) => {
    const databaseUrl = await testDatabaseUrl(t, database)
    const writer = await buildTestApp(t, { databaseUrl })
    const reader = await buildTestApp(t, { databaseUrl, env: { ITEMS_PAGE_CACHE_MS: '400' } })
    const uncached = await buildTestApp(t, { databaseUrl, env: { ITEMS_PAGE_CACHE_MS: '0' } })
    const user = await signUp(writer)
    const names = async (app: typeof reader): Promise<string[]> => (await app.inject({ method: 'GET', url: '/items' })).json().items

    t.same(await names(reader), [])
    await writer.inject({ method: 'PUT', url: '/item/first', headers: bearer(user.access), payload: json(1) })
    t.same(await names(reader), [], 'another instance may serve its cached page until the TTL')
    t.same(await names(uncached), ['first'], 'with ITEMS_PAGE_CACHE_MS=0 nothing is cached')
    t.same((await reader.inject({ method: 'GET', url: '/items', headers: bearer(user.access) })).json().items.map((i: { name: string }) => i.name),
      ['first'], 'signed-in listings are never cached')
    await new Promise((resolve) => setTimeout(resolve, 450))
    t.same(await names(reader), ['first'], 'after the TTL the page is read again')

    await reader.inject({ method: 'PUT', url: '/item/second', headers: bearer(user.access), payload: json(2) })
    t.same(await names(reader), ['first', 'second'], "the instance's own write clears its cache")
  })
})
