import t from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { bearer, buildTestApp, forEachDatabase, signUp, uniqueName } from '../helpers'

type Test = tap.Test

const JSON_TYPE = { 'content-type': 'application/json' }
const NOT_JSON = /Body is not valid JSON/

/**
 * The error contract: exact status, a JSON body of exactly `{statusCode, error, message}`, and the
 * message equal to a string or matching a pattern (validation messages are ajv's; they must name the field).
 */
function expectError (t: Test, res: LightMyRequestResponse, statusCode: number, error: string, message: string | RegExp, what: string): void {
  t.equal(res.statusCode, statusCode, `${what}: status ${statusCode}`)
  t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`)
  const body = res.json()
  t.strictSame(Object.keys(body).sort(), ['error', 'message', 'statusCode'], `${what}: {statusCode, error, message}`)
  t.strictSame({ statusCode: body.statusCode, error: body.error }, { statusCode, error }, `${what}: ${error}`)
  if (typeof message === 'string') t.equal(body.message, message, `${what}: message`)
  else t.match(body.message, message, `${what}: message ${String(message)}`)
}

const register = (payload: unknown, headers: Record<string, string> = {}): InjectOptions =>
  ({ method: 'POST', url: '/register', headers, payload: payload as InjectOptions['payload'] })
const registerRaw = (body: string, contentType = 'application/json'): InjectOptions =>
  register(body, { 'content-type': contentType })

forEachDatabase(t, async (t, database) => {
  t.test('an unknown route is a 404 not_found in the error contract', async (t) => {
    const app = await buildTestApp(t, { database })
    const cases: Array<[InjectOptions, string]> = [
      [{ method: 'GET', url: '/nope' }, 'Route GET /nope not found.'],
      [{ method: 'GET', url: '/nope?secret=1' }, 'Route GET /nope not found.'],
      [{ method: 'POST', url: '/items' }, 'Route POST /items not found.'],
      [{ method: 'PATCH', url: '/item/x' }, 'Route PATCH /item/x not found.'],
      [{ method: 'GET', url: '/user' }, 'Route GET /user not found.']
    ]
    for (const [request, message] of cases) {
      expectError(t, await app.inject(request), 404, 'not_found', message, `${request.method} ${request.url}`)
    }
  })

  t.test('a body that is not JSON is a 400, never 5xx', async (t) => {
    const app = await buildTestApp(t, { database })
    for (const body of ['{"username":', 'not json', '{"username":"abc","password":"12345678",}', "{'username':'abc'}", '   ', '\u0000']) {
      expectError(t, await app.inject(registerRaw(body)), 400, 'invalid_json', NOT_JSON, `body ${JSON.stringify(body)}`)
    }
    for (const body of ['null', '[]', '"username"', '42', '']) {
      expectError(t, await app.inject(registerRaw(body)), 400, 'validation_error', /^body must be object/, `body ${JSON.stringify(body)}`)
    }
  })

  t.test('a body that fails the schema is a 400 validation_error naming the field', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const item = (payload: unknown, name = uniqueName('item')): InjectOptions =>
      ({ method: 'POST', url: `/item/${name}`, headers: bearer(user.access), payload: payload as InjectOptions['payload'] })
    const get = (url: string): InjectOptions => ({ method: 'GET', url, headers: bearer(user.access) })

    const cases: Array<[string, InjectOptions, string]> = [
      ['a 2-char username', register({ username: 'ab', password: 'password1' }), 'username'],
      ['a 65-char username', register({ username: 'u'.repeat(65), password: 'password1' }), 'username'],
      ['a 7-char password', register({ username: uniqueName(), password: 'short12' }), 'password'],
      ['a 1025-char password', register({ username: uniqueName(), password: 'p'.repeat(1025) }), 'password'],
      ['a missing password', register({ username: uniqueName() }), 'password'],
      ['a numeric username', register({ username: 12345, password: 'password1' }), 'username'],
      ['an empty login password', { method: 'POST', url: '/login', payload: { username: user.username, password: '' } }, 'password'],
      ['price -1', item({ price: -1 }), 'price'],
      ['price "abc"', item({ price: 'abc' }), 'price'],
      ['price "5" (nothing is coerced)', item({ price: '5' }), 'price'],
      ['price null', item({ price: null }), 'price'],
      ['price 1e16', item({ price: 1e16 }), 'price'],
      ['a missing price', item({ name: 'x' }), 'price'],
      ['GET /user/abc', get('/user/abc'), 'id'],
      ['GET /user/0', get('/user/0'), 'id'],
      ['GET /user/1.5', get('/user/1.5'), 'id'],
      ['an 81-char item name on GET', get(`/item/${'n'.repeat(81)}`), 'name'],
      ['an 81-char item name on POST', item({ price: 1 }, 'n'.repeat(81)), 'name'],
      ['a 200-char item name', get(`/item/${'n'.repeat(200)}`), 'name']
    ]
    for (const [what, request, field] of cases) {
      expectError(t, await app.inject(request), 400, 'validation_error', new RegExp(`\\b${field}\\b`), what)
    }
    const exactly80 = await app.inject(item({ price: 1 }, 'n'.repeat(80)))
    t.equal(exactly80.statusCode, 201, 'control: an 80-char item name is fine')
  })

  t.test('a body that is not JSON at all is a 415', async (t) => {
    const app = await buildTestApp(t, { database })
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      expectError(t, await app.inject(registerRaw('username=abc&password=12345678', contentType)),
        415, 'unsupported_media_type', /Unsupported Media Type/, contentType)
    }
  })

  t.test('Content-Type: application/json with an empty body is fine on routes that take no body', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const empty = (url: string, token: string): InjectOptions =>
      ({ method: 'POST', url, headers: { ...JSON_TYPE, ...bearer(token) }, payload: '' })

    const refreshed = await app.inject(empty('/refresh', user.refresh))
    t.equal(refreshed.statusCode, 200, 'POST /refresh')
    t.same(Object.keys(refreshed.json()).sort(), ['access_token', 'refresh_token'])
    const out = await app.inject(empty('/logout', user.access))
    t.equal(out.statusCode, 200, 'POST /logout')
    t.strictSame(out.json(), { message: 'Successfully logged out.' })
  })

  t.test('register and login refusals', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)

    expectError(t, await app.inject(register({ username: user.username, password: 'another password' })),
      409, 'user_exists', `A user with username '${user.username}' already exists.`, 'a duplicate register')

    const login = async (username: string, password: string) =>
      await app.inject({ method: 'POST', url: '/login', payload: { username, password } })
    const wrongPassword = await login(user.username, 'wrong password')
    const unknownUser = await login(uniqueName(), user.password)
    for (const [what, res] of [['a wrong password', wrongPassword], ['an unknown user', unknownUser]] as const) {
      expectError(t, res, 401, 'invalid_credentials', 'Invalid Credentials!', what)
      t.equal(res.headers['www-authenticate'], 'Bearer', `${what}: Bearer challenge`)
    }
    t.equal(wrongPassword.body, unknownUser.body, 'a wrong password and an unknown user give identical bodies')
  })

  t.test('odd inputs never cause a server error', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const auth = bearer(user.access)
    const deep = '['.repeat(5000) + ']'.repeat(5000)

    const cases: Array<[string, InjectOptions]> = [
      ['a 100 kB Authorization header', { method: 'GET', url: '/items', headers: { authorization: `Bearer ${'a'.repeat(100_000)}` } }],
      ['a 64 kB unrelated header', { method: 'GET', url: '/items', headers: { 'x-filler': 'x'.repeat(65_536) } }],
      ['a Latin-1 username', register({ username: 'üñîçødé', password: '12345678' })],
      ['an emoji username', register({ username: '😀😀😀', password: '12345678' })],
      ['a right-to-left username', register({ username: 'مستخدم', password: '12345678' })],
      ['a NUL in a username', register({ username: 'nul\u0000byte', password: '12345678' })],
      // PostgreSQL text cannot hold NUL: such names are refused before they reach the database.
      ['a NUL in a login username', { method: 'POST', url: '/login', payload: { username: 'nul\u0000byte', password: '12345678' } }],
      ['a NUL in a new item name', { method: 'POST', url: '/item/nul%00byte', headers: auth, payload: { price: 1 } }],
      ['a NUL in a put item name', { method: 'PUT', url: '/item/nul%00byte', headers: auth, payload: { price: 1 } }],
      ['a NUL in a read item name', { method: 'GET', url: '/item/nul%00byte', headers: auth }],
      ['a lone surrogate in a username', registerRaw('{"username":"ab\\ud800c","password":"12345678"}')],
      ['a unicode item name', { method: 'POST', url: '/item/%E2%98%83', headers: auth, payload: { price: 1 } }],
      ['an emoji item name', { method: 'GET', url: `/item/${encodeURIComponent('🍕')}`, headers: auth }],
      ['a __proto__ key', registerRaw('{"__proto__":{"x":1},"username":"abc","password":"12345678"}')],
      ['a nested __proto__ key', registerRaw('{"username":"abd","password":"12345678","a":{"__proto__":{"x":1}}}')],
      ['a constructor.prototype key', registerRaw('{"constructor":{"prototype":{"x":1}},"username":"abe","password":"12345678"}')],
      ['__proto__ in the query string', { method: 'GET', url: '/items?__proto__[x]=1&constructor[prototype][x]=1' }],
      ['deeply nested JSON', registerRaw(`{"username":${deep},"password":"12345678"}`)],
      ['a 2 MB body', registerRaw(JSON.stringify({ username: 'big', password: 'x'.repeat(2_000_000) }))],
      ['a JSON charset parameter', register('{"username":"charset","password":"12345678"}', { 'content-type': 'application/json; charset=utf-16' })],
      ['a bad percent-encoding in the path', { method: 'GET', url: '/item/%ZZ', headers: auth }],
      ['a 2000-char item name', { method: 'GET', url: `/item/${'n'.repeat(2000)}`, headers: auth }]
    ]
    for (const [what, request] of cases) {
      const res = await app.inject(request)
      t.ok(res.statusCode < 500, `${what}: ${res.statusCode} is not a server error`)
      if (res.statusCode >= 400) {
        const body = res.json()
        t.strictSame(Object.keys(body).sort(), ['error', 'message', 'statusCode'], `${what}: the error contract`)
        t.equal(body.statusCode, res.statusCode, `${what}: statusCode in body`)
      }
    }
    t.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was polluted')
  })
})
