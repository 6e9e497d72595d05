import Ajv from 'ajv'
import t from 'tap'
import { buildTestApp, signUp } from '../helpers'

type App = Awaited<ReturnType<typeof buildTestApp>>
type Response = Awaited<ReturnType<App['inject']>>

const cookieMap = (response: Response): Record<string, string> =>
  Object.fromEntries(response.cookies.map(({ name, value }) => [name, value]))

/** The documented 200 schema of an operation, from the app's own OpenAPI document. */
async function documented (app: App, path: string, method: string): Promise<Record<string, any>> {
  const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  return document.paths[path][method].responses['200'].content['application/json'].schema
}

function noTokenIn (t: tap.Test, response: Response, what: string): void {
  const cookies = cookieMap(response)
  for (const name of ['access_token_cookie', 'refresh_token_cookie']) {
    if (cookies[name] !== undefined) t.notOk(response.body.includes(cookies[name]), `${what}: the ${name} value is not in the body`)
  }
  t.notMatch(response.body, /eyJ[A-Za-z0-9_-]+\.eyJ/, `${what}: no JWT anywhere in the body`)
}

t.test('cookies only: /login, /refresh and the password change answer a message and expires_in, no token', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'cookies', JWT_ACCESS_TOKEN_EXPIRES: '600' } })
  const ajv = new Ajv({ strict: false })
  const username = 'cookie_only_user'
  const password = 'correct horse battery'
  t.equal((await app.inject({ method: 'POST', url: '/register', payload: { username, password } })).statusCode, 201)

  const login = await app.inject({ method: 'POST', url: '/login', payload: { username, password } })
  t.equal(login.statusCode, 200)
  t.same(login.json(), { message: 'Logged in.', expires_in: 600 })
  noTokenIn(t, login, '/login')
  t.ok(ajv.validate(await documented(app, '/login', 'post'), login.json()), '/login answers its documented schema')
  t.notOk('access_token' in (await documented(app, '/login', 'post')).properties, 'and the document shows no token')
  const cookies = cookieMap(login)
  t.ok(cookies.access_token_cookie !== undefined && cookies.refresh_token_cookie !== undefined, 'the tokens are in the cookies')

  const refresh = await app.inject({
    method: 'POST', url: '/refresh', cookies: { refresh_token_cookie: cookies.refresh_token_cookie }, headers: { 'x-csrf-token': cookies.csrf_refresh_token }
  })
  t.equal(refresh.statusCode, 200)
  t.same(refresh.json(), { message: 'Token refreshed.', expires_in: 600 })
  noTokenIn(t, refresh, '/refresh')
  t.ok(ajv.validate(await documented(app, '/refresh', 'post'), refresh.json()), '/refresh answers its documented schema')

  const id = JSON.parse(Buffer.from(cookies.access_token_cookie.split('.')[1], 'base64url').toString()).sub as string
  const changed = await app.inject({
    method: 'PUT',
    url: `/user/${id}/password`,
    cookies: { access_token_cookie: cookies.access_token_cookie },
    headers: { 'x-csrf-token': cookies.csrf_access_token },
    payload: { old_password: password, new_password: 'another good password' }
  })
  t.equal(changed.statusCode, 200)
  t.same(changed.json(), { message: 'Password changed.', expires_in: 600 })
  noTokenIn(t, changed, 'PUT /user/:id/password')
  t.ok(ajv.validate(await documented(app, '/user/{id}/password', 'put'), changed.json()), 'the password change answers its documented schema')
})

t.test('headers,cookies: the bodies carry the tokens, as in header mode', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'headers,cookies' } })
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  t.match(login.json(), { access_token: String, refresh_token: String, token_type: 'Bearer', expires_in: 900 })
  t.match(await documented(app, '/login', 'post'), { properties: { access_token: {}, refresh_token: {} } })
  const refresh = await app.inject({ method: 'POST', url: '/refresh', headers: { authorization: `Bearer ${login.json().refresh_token as string}` } })
  t.match(refresh.json(), { access_token: String })
})
