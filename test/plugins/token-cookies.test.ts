import t from 'tap'
import { bearer, buildTestApp, decode, signUp } from '../helpers'

type App = Awaited<ReturnType<typeof buildTestApp>>
type Response = Awaited<ReturnType<App['inject']>>

/** The cookies a response sets, by name, with their attributes as written. */
function setCookies (response: Response): Record<string, string> {
  const header = response.headers['set-cookie']
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header]
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line]))
}
const valueOf = (line: string): string => line.slice(line.indexOf('=') + 1, line.indexOf(';'))

t.test('cookie mode: HttpOnly token cookies, readable CSRF cookies, double submit on state changes', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'cookies' } })
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  t.equal(login.statusCode, 200)
  const cookies = setCookies(login)
  t.match(cookies.access_token_cookie, /; Path=\/; HttpOnly; Secure; SameSite=Lax/)
  t.match(cookies.access_token_cookie, /^access_token_cookie=[^;]+; Max-Age=900; Path=\/; HttpOnly/, 'a Max-Age by default (JWT_SESSION_COOKIE off)')
  // Flask-JWT-Extended's default path for all four: a page anywhere on the site can refresh.
  t.match(cookies.refresh_token_cookie, /; Path=\/; HttpOnly; Secure; SameSite=Lax/)
  t.match(cookies.csrf_access_token, /; Path=\/; Secure; SameSite=Lax/)
  t.notMatch(cookies.csrf_access_token, /HttpOnly/, 'JavaScript reads the CSRF value')
  t.match(cookies.csrf_refresh_token, /; Path=\/; Secure; SameSite=Lax/)
  const access = valueOf(cookies.access_token_cookie)
  const refresh = valueOf(cookies.refresh_token_cookie)
  const csrf = valueOf(cookies.csrf_access_token)
  t.equal(decode(access).csrf, csrf, 'the token carries the CSRF value of its twin cookie')
  t.equal(decode(refresh).csrf, valueOf(cookies.csrf_refresh_token))

  const withCookie = { access_token_cookie: access }
  t.equal((await app.inject({ method: 'GET', url: '/item/lamp', cookies: withCookie })).statusCode, 404, 'a GET needs no CSRF header')
  const items = await app.inject({ method: 'GET', url: '/items', cookies: withCookie })
  t.same(items.json(), { items: [] }, 'the optional route sees the signed-in user')

  const crossSite = await app.inject({ method: 'POST', url: '/item/lamp', cookies: withCookie, payload: { price: 1 } })
  t.equal(crossSite.statusCode, 401, 'a cross-site-style POST, cookie but no header, is refused')
  t.same(crossSite.json(), { statusCode: 401, error: 'csrf_mismatch', message: 'CSRF double submit tokens do not match.' })
  const wrong = await app.inject({ method: 'POST', url: '/item/lamp', cookies: withCookie, headers: { 'x-csrf-token': csrf.replace(/.$/, 'x') }, payload: { price: 1 } })
  t.equal(wrong.json().error, 'csrf_mismatch')
  const created = await app.inject({ method: 'POST', url: '/item/lamp', cookies: withCookie, headers: { 'x-csrf-token': csrf }, payload: { price: 1 } })
  t.equal(created.statusCode, 201)

  const header = await app.inject({ method: 'GET', url: '/item/lamp', headers: bearer(access) })
  t.equal(header.statusCode, 401, 'in cookie-only mode an Authorization header is not read')
  t.equal(header.json().error, 'authorization_required')

  const refreshed = await app.inject({
    method: 'POST', url: '/refresh', cookies: { refresh_token_cookie: refresh }, headers: { 'x-csrf-token': valueOf(cookies.csrf_refresh_token) }
  })
  t.equal(refreshed.statusCode, 200)
  const renewed = setCookies(refreshed)
  t.ok(renewed.access_token_cookie !== undefined && renewed.refresh_token_cookie !== undefined, 'refresh sets the new cookies')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', cookies: { refresh_token_cookie: refresh } })).json().error, 'csrf_mismatch')

  const out = await app.inject({ method: 'POST', url: '/logout', cookies: withCookie, headers: { 'x-csrf-token': csrf } })
  t.equal(out.statusCode, 200)
  const cleared = setCookies(out)
  for (const name of ['access_token_cookie', 'refresh_token_cookie', 'csrf_access_token', 'csrf_refresh_token']) {
    t.match(cleared[name], /Expires=Thu, 01 Jan 1970/, `${name} is cleared`)
  }
  t.equal((await app.inject({ method: 'GET', url: '/item/lamp', cookies: withCookie })).json().error, 'token_revoked')
})

t.test('both locations: a header or a cookie; SameSite and Secure from config', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'headers,cookies', JWT_COOKIE_SECURE: 'false', JWT_COOKIE_SAMESITE: 'strict' } })
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  const cookies = setCookies(login)
  t.match(cookies.access_token_cookie, /; Path=\/; HttpOnly; SameSite=Strict$/)
  t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(login.json().access_token) })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/item/x', cookies: { access_token_cookie: valueOf(cookies.access_token_cookie) } })).statusCode, 404)
  t.equal((await app.inject({ method: 'PUT', url: '/item/x', headers: bearer(login.json().access_token), payload: { price: 2 } })).statusCode, 201,
    'a header token needs no CSRF value')
})

t.test('header mode (the default) sets no cookie and reads none', async (t) => {
  const app = await buildTestApp(t)
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  t.notOk('set-cookie' in login.headers)
  t.notOk('csrf' in decode(login.json().access_token))
  t.equal((await app.inject({ method: 'GET', url: '/item/x', cookies: { access_token_cookie: login.json().access_token } })).statusCode, 401)
})

t.test('names, paths (each its own), domain and session cookies from config', async (t) => {
  const app = await buildTestApp(t, {
    env: {
      // headers too, so the signUp helper finds the tokens in the login's body.
      JWT_TOKEN_LOCATION: 'headers,cookies',
      JWT_ACCESS_COOKIE_NAME: 'acc',
      JWT_REFRESH_COOKIE_NAME: 'ref',
      JWT_ACCESS_CSRF_COOKIE_NAME: 'acc_csrf',
      JWT_REFRESH_CSRF_COOKIE_NAME: 'ref_csrf',
      JWT_ACCESS_CSRF_HEADER_NAME: 'X-Access-Csrf',
      JWT_REFRESH_CSRF_HEADER_NAME: 'X-Refresh-Csrf',
      JWT_ACCESS_COOKIE_PATH: '/api',
      JWT_REFRESH_COOKIE_PATH: '/refresh',
      JWT_ACCESS_CSRF_COOKIE_PATH: '/app',
      JWT_REFRESH_CSRF_COOKIE_PATH: '/app/refresh',
      JWT_COOKIE_DOMAIN: 'example.test',
      JWT_SESSION_COOKIE: 'true'
    }
  })
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  const cookies = setCookies(login)
  t.same(Object.keys(cookies).sort(), ['acc', 'acc_csrf', 'ref', 'ref_csrf'])
  t.match(cookies.acc, /; Domain=example\.test; Path=\/api; HttpOnly/)
  t.match(cookies.ref, /; Domain=example\.test; Path=\/refresh; HttpOnly/)
  t.match(cookies.acc_csrf, /; Domain=example\.test; Path=\/app;/)
  t.match(cookies.ref_csrf, /; Domain=example\.test; Path=\/app\/refresh;/)
  for (const line of Object.values(cookies)) t.notMatch(line, /Max-Age|Expires/, 'session cookies: no Max-Age')

  const access = { acc: valueOf(cookies.acc) }
  const csrf = valueOf(cookies.acc_csrf)
  t.equal((await app.inject({ method: 'PUT', url: '/item/x', cookies: access, headers: { 'x-csrf-token': csrf }, payload: { price: 1 } })).json().error,
    'csrf_mismatch', 'the default header name is not read when another is configured')
  t.equal((await app.inject({ method: 'PUT', url: '/item/x', cookies: access, headers: { 'x-access-csrf': csrf }, payload: { price: 1 } })).statusCode, 201)
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', cookies: { ref: valueOf(cookies.ref) }, headers: { 'x-refresh-csrf': valueOf(cookies.ref_csrf) } })
  t.equal(refreshed.statusCode, 200, 'the refresh CSRF header has its own name')

  const out = await app.inject({ method: 'POST', url: '/logout', cookies: access, headers: { 'x-access-csrf': csrf } })
  const cleared = setCookies(out)
  t.match(cleared.acc, /Max-Age=0; Domain=example\.test; Path=\/api; Expires=Thu, 01 Jan 1970/, 'cleared with the path and domain it was set with')
  t.match(cleared.ref, /Domain=example\.test; Path=\/refresh/)
  t.match(cleared.acc_csrf, /Path=\/app;/)
  t.match(cleared.ref_csrf, /Path=\/app\/refresh;/)
})

t.test('cookie mode: a refresh retried within the interval sets the same cookies; /login/fresh sets a fresh access cookie', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'cookies' } })
  const user = await signUp(app)
  const login = setCookies(await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } }))
  const refreshWith = { cookies: { refresh_token_cookie: valueOf(login.refresh_token_cookie) }, headers: { 'x-csrf-token': valueOf(login.csrf_refresh_token) } }
  const first = await app.inject({ method: 'POST', url: '/refresh', ...refreshWith })
  const retry = await app.inject({ method: 'POST', url: '/refresh', ...refreshWith })
  t.equal(retry.statusCode, 200)
  for (const name of ['access_token_cookie', 'refresh_token_cookie']) {
    t.equal(valueOf(setCookies(retry)[name]), valueOf(setCookies(first)[name]), `the retry sets the same ${name}`)
  }
  const stale = setCookies(first)
  const fresh = await app.inject({
    method: 'POST',
    url: '/login/fresh',
    cookies: { access_token_cookie: valueOf(stale.access_token_cookie) },
    headers: { 'x-csrf-token': valueOf(stale.csrf_access_token) },
    payload: { password: user.password }
  })
  t.equal(fresh.statusCode, 200)
  const set = setCookies(fresh)
  t.equal(decode(valueOf(set.access_token_cookie)).fresh, true, 'a fresh access cookie')
  t.equal(decode(valueOf(set.access_token_cookie)).csrf, valueOf(set.csrf_access_token), 'with its CSRF cookie')
  t.equal(set.refresh_token_cookie, undefined, 'and no new refresh cookie')
  const crossSite = await app.inject({
    method: 'POST', url: '/login/fresh', cookies: { access_token_cookie: valueOf(stale.access_token_cookie) }, payload: { password: user.password }
  })
  t.equal(crossSite.json().error, 'csrf_mismatch', 'a cross-site POST cannot ask for one')
})
