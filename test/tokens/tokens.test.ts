import t from 'tap'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import type { Item } from '../../plugins/app/items-repository'
import type { App } from '../../src/app'
import { bearer, buildTestApp, decode, flaskClaims, forEachDatabase, forEachStore, forge, SECRET, signUp, signUpAdmin, uniqueName } from '../helpers'

type Test = tap.Test

const now = (): number => Math.floor(Date.now() / 1000)
const OTHER_SECRET = 'another-secret-of-at-least-thirty-two-bytes!'
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** RFC 6750: a missing token names only the scheme; a bad one says invalid_token. */
function expectedChallenge (code: string): string {
  return code === 'authorization_required' ? 'Bearer' : 'Bearer error="invalid_token"'
}

/** The error contract: exact status, `{statusCode, error, message}` and nothing else, a Bearer challenge on 401. */
function expectError (t: Test, res: LightMyRequestResponse, statusCode: number, error: string, message: string, what: string): void {
  t.equal(res.statusCode, statusCode, `${what}: status ${statusCode}`)
  t.strictSame(res.json(), { statusCode, error, message }, `${what}: ${error}`)
  if (statusCode === 401) t.equal(res.headers['www-authenticate'], expectedChallenge(error), `${what}: Bearer challenge`)
}

/** GET /items with a token: 200 for any good access token, 401 for a bad one. */
const accessRoute = (token: string): InjectOptions => ({ method: 'GET', url: '/items', headers: bearer(token) })

/** A token with `alg: none` and an empty signature. */
const unsigned = (payload: unknown): string => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`

/** The token with one bit of its signature flipped. */
function flipSignatureBit (token: string): string {
  const [header, payload, signature] = token.split('.')
  const bytes = Buffer.from(signature, 'base64url')
  bytes[0] ^= 0x01
  return `${header}.${payload}.${bytes.toString('base64url')}`
}

function without (claims: Record<string, unknown>, name: string): Record<string, unknown> {
  const { [name]: _dropped, ...rest } = claims
  return rest
}

async function createItem (t: Test, app: App, token: string, name: string, price: number): Promise<Item> {
  const res = await app.inject({ method: 'POST', url: `/item/${name}`, headers: bearer(token), payload: { price } })
  t.equal(res.statusCode, 201, `item ${name} created`)
  return res.json()
}

forEachDatabase(t, async (t, database) => {
  t.test('a request without a token is refused with authorization_required', async (t) => {
    const app = await buildTestApp(t, { database })
    const routes: InjectOptions[] = [
      { method: 'GET', url: '/item/x' },
      { method: 'POST', url: '/refresh' },
      { method: 'DELETE', url: '/user/1' }
    ]
    const headers: Array<[string, Record<string, string>]> = [
      ['no Authorization header', {}],
      ['a Basic Authorization header', { authorization: 'Basic xxx' }],
      ['a Basic header with credentials', { authorization: 'Basic dXNlcjpwYXNz' }]
    ]
    for (const route of routes) {
      for (const [what, extra] of headers) {
        const res = await app.inject({ ...route, headers: extra })
        expectError(t, res, 401, 'authorization_required', 'Request does not contain an access token.',
          `${route.method} ${route.url} with ${what}`)
      }
    }
  })

  t.test('a malformed Authorization header or token is invalid_token, never 5xx', async (t) => {
    const app = await buildTestApp(t, { database })
    const badHeader = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"
    const malformed = 'The token is malformed.'
    const cases: Array<[string, string]> = [
      ['Bearer', badHeader],
      ['Bearer ', badHeader],
      ['Bearer a b', badHeader],
      ['Bearer ,,0', malformed], // Flask-JWT-Extended 4.7.1 answered 500 to this
      ['Bearer garbage', malformed],
      ['Bearer abc.def', malformed],
      ['Bearer !!!.@@@.###', malformed],
      [`Bearer ${b64({ alg: 'HS256' })}.not~base64~json.c2ln`, 'Signature verification failed.']
    ]
    for (const [authorization, message] of cases) {
      for (const url of ['/item/x', '/items']) {
        const res = await app.inject({ method: 'GET', url, headers: { authorization } })
        expectError(t, res, 401, 'invalid_token', message, `GET ${url} with "${authorization}"`)
      }
    }
  })

  t.test('expiry and not-before', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)

    const good = await app.inject(accessRoute(forge(flaskClaims(user.id))))
    t.equal(good.statusCode, 200, 'control: a well-formed token signed with SECRET is accepted')

    const expired = forge(flaskClaims(user.id, { iat: now() - 3600, nbf: now() - 3600, exp: now() - 60 }), { secret: SECRET })
    expectError(t, await app.inject(accessRoute(expired)), 401, 'token_expired', 'The token has expired.', 'expired token')
    expectError(t, await app.inject({ method: 'GET', url: '/item/x', headers: bearer(expired) }),
      401, 'token_expired', 'The token has expired.', 'expired token on /item/x')

    const early = forge(flaskClaims(user.id, { nbf: now() + 3600 }))
    expectError(t, await app.inject(accessRoute(early)), 401, 'invalid_token', 'The token is not yet valid.', 'token with a future nbf')
  })

  t.test('signature and algorithm', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const claims = flaskClaims(user.id)
    const notAllowed = 'The token algorithm is not allowed.'

    const cases: Array<[string, string, string]> = [
      ['signed with another secret', forge(claims, { secret: OTHER_SECRET }), 'Signature verification failed.'],
      ['one bit of a login token signature flipped', flipSignatureBit(user.access), 'Signature verification failed.'],
      ['one bit of a forged token signature flipped', flipSignatureBit(forge(claims)), 'Signature verification failed.'],
      ['alg none with an empty signature', unsigned(claims), 'The token is not signed.'],
      ['alg none with a login token payload', unsigned(decode(user.access)), 'The token is not signed.'],
      ['HS512 signed with SECRET', forge(claims, { secret: SECRET, hmac: 'sha512', header: { alg: 'HS512', typ: 'JWT' } }), notAllowed],
      ['HS384 signed with SECRET', forge(claims, { secret: SECRET, hmac: 'sha384', header: { alg: 'HS384', typ: 'JWT' } }), notAllowed],
      ['HS256 header over an HS512 signature', forge(claims, { hmac: 'sha512' }), 'Signature verification failed.']
    ]
    for (const [what, token, message] of cases) {
      expectError(t, await app.inject(accessRoute(token)), 401, 'invalid_token', message, what)
    }
    t.equal((await app.inject(accessRoute(user.access))).statusCode, 200, 'control: the untouched login token is accepted')
  })

  t.test('claims of the wrong shape are invalid_token, never 5xx', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const claims = flaskClaims(user.id)

    const malformedClaim = (name: string): string => `The token's ${name} claim is missing or malformed.`
    const invalid = 'The token payload is not a JSON object.'
    const payloads: Array<[string, unknown, string]> = [
      ...['sub', 'type', 'jti', 'exp'].map((name): [string, unknown, string] => [`without ${name}`, without(claims, name), malformedClaim(name)]),
      ['a fractional sub (an integer one is read as its decimal string)', { ...claims, sub: user.id + 0.5 }, malformedClaim('sub')],
      ['without iat (it could never be placed before a cut-off)', without(claims, 'iat'), malformedClaim('iat')],
      ['an empty sub', { ...claims, sub: '' }, malformedClaim('sub')],
      ['an unknown type', { ...claims, type: 'id' }, malformedClaim('type')],
      ['a string exp', { ...claims, exp: String(now() + 900) }, malformedClaim('exp')],
      ['exp in milliseconds', { ...claims, exp: (now() + 900) * 1000 }, malformedClaim('exp')],
      ['a string nbf', { ...claims, nbf: 'now' }, malformedClaim('nbf')],
      ['a negative iat', { ...claims, iat: -1 }, malformedClaim('iat')],
      ['a string iat', { ...claims, iat: 'yesterday' }, malformedClaim('iat')],
      ['a numeric sid', { ...claims, sid: 5 }, malformedClaim('sid')],
      ['a string fresh', { ...claims, fresh: 'yes' }, malformedClaim('fresh')],
      ['a non-boolean is_admin', { ...claims, is_admin: 'true' }, malformedClaim('is_admin')],
      ['a JSON array payload', [claims], invalid],
      ['a null payload', null, invalid],
      ['a number payload', 42, invalid],
      ['a string payload', 'hello', 'The token is malformed.']
    ]
    for (const [what, payload, message] of payloads) {
      expectError(t, await app.inject(accessRoute(forge(payload))), 401, 'invalid_token', message, what)
    }
  })

  t.test('token types', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)

    for (const url of ['/item/x', '/items', `/user/${user.id}`]) {
      expectError(t, await app.inject({ method: 'GET', url, headers: bearer(user.refresh) }),
        401, 'wrong_token_type', 'Only access tokens are allowed.', `refresh token on GET ${url}`)
    }
    expectError(t, await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.access) }),
      401, 'wrong_token_type', 'Only refresh tokens are allowed.', 'access token on POST /refresh')
    const flaskAccess = forge(flaskClaims(user.id))
    expectError(t, await app.inject({ method: 'POST', url: '/refresh', headers: bearer(flaskAccess) }),
      401, 'wrong_token_type', 'Only refresh tokens are allowed.', 'Flask access token on POST /refresh')
  })

  t.test('fresh tokens', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)

    const name = uniqueName('item')
    const created = await app.inject({ method: 'POST', url: `/item/${name}`, headers: bearer(user.access), payload: { price: 12.5 } })
    t.equal(created.statusCode, 201, "a login's access token is fresh")
    t.match(created.json(), { id: Number, name, price: 12.5 })

    const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).json().access_token
    t.type(refreshed, 'string')
    t.equal(decode(refreshed).fresh, false)
    expectError(t, await app.inject({ method: 'POST', url: `/item/${uniqueName('item')}`, headers: bearer(refreshed), payload: { price: 1 } }),
      401, 'fresh_token_required', 'The token is not fresh.', 'a refreshed access token')

    const flask: Array<[string, unknown, boolean]> = [
      ['fresh: true', true, true],
      ['fresh until a future timestamp', now() + 600, true],
      ['fresh until a past timestamp', now() - 600, false],
      ['fresh: false', false, false],
      ['no fresh claim', undefined, false]
    ]
    for (const [what, fresh, isFresh] of flask) {
      const token = forge(flaskClaims(user.id, { fresh }))
      const res = await app.inject({ method: 'POST', url: `/item/${uniqueName('item')}`, headers: bearer(token), payload: { price: 1 } })
      if (isFresh) t.equal(res.statusCode, 201, `Flask token with ${what} is fresh`)
      else expectError(t, res, 401, 'fresh_token_required', 'The token is not fresh.', `Flask token with ${what}`)
    }
  })

  forEachStore(t, async (t, store) => {
    await t.test('a Flask-JWT-Extended 4.x token is accepted and can be revoked', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const item = await createItem(t, app, user.access, uniqueName('item'), 9.5)

      const claims = flaskClaims(user.id)
      t.type(claims.csrf, 'string', 'Flask claims carry csrf')
      t.notOk('sid' in claims, 'and no sid')
      const flask = forge(claims)

      const one = await app.inject({ method: 'GET', url: `/item/${item.name}`, headers: bearer(flask) })
      t.equal(one.statusCode, 200)
      t.same(one.json(), item)
      const all = await app.inject({ method: 'GET', url: '/items', headers: bearer(flask) })
      t.equal(all.statusCode, 200)
      t.same(all.json(), { items: [item] }, 'the full list, not the anonymous one')

      const out = await app.inject({ method: 'POST', url: '/logout', headers: bearer(flask) })
      t.equal(out.statusCode, 200)
      t.same(out.json(), { message: 'Successfully logged out.' })

      for (const url of [`/item/${item.name}`, '/items']) {
        expectError(t, await app.inject({ method: 'GET', url, headers: bearer(flask) }),
          401, 'token_revoked', 'The token has been revoked.', `revoked Flask token on GET ${url}`)
      }
      const other = await app.inject({ method: 'GET', url: '/items', headers: bearer(forge(flaskClaims(user.id))) })
      t.equal(other.statusCode, 200, 'another Flask token of the same user is untouched')
      const login = await app.inject({ method: 'GET', url: '/items', headers: bearer(user.access) })
      t.equal(login.statusCode, 200, "the user's login session is untouched")
    })

    await t.test('optional route GET /items', async (t) => {
      const app = await buildTestApp(t, { database, store })
      const user = await signUp(app)
      const first = await createItem(t, app, user.access, uniqueName('item'), 1)
      const second = await createItem(t, app, user.access, uniqueName('item'), 2.25)

      const anonymous = await app.inject({ method: 'GET', url: '/items' })
      t.equal(anonymous.statusCode, 200)
      t.same(anonymous.json(), { items: [first.name, second.name], message: 'More data available if you log in.' })
      const basic = await app.inject({ method: 'GET', url: '/items', headers: { authorization: 'Basic xxx' } })
      t.same(basic.json(), anonymous.json(), 'another scheme counts as anonymous')

      const known = await app.inject(accessRoute(user.access))
      t.equal(known.statusCode, 200)
      t.same(known.json(), { items: [first, second] })

      const expired = forge(flaskClaims(user.id, { iat: now() - 3600, nbf: now() - 3600, exp: now() - 1 }))
      expectError(t, await app.inject(accessRoute(expired)), 401, 'token_expired', 'The token has expired.', 'expired token')
      expectError(t, await app.inject(accessRoute(forge(flaskClaims(user.id), { secret: OTHER_SECRET }))),
        401, 'invalid_token', 'Signature verification failed.', 'forged token')
      expectError(t, await app.inject({ method: 'GET', url: '/items', headers: { authorization: 'Bearer' } }),
        401, 'invalid_token', "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'", 'empty Bearer header')

      t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200)
      expectError(t, await app.inject(accessRoute(user.access)), 401, 'token_revoked', 'The token has been revoked.', 'revoked token')
    })
  })

  t.test('admin: DELETE /item/:name', async (t) => {
    const app = await buildTestApp(t, { database })
    const user = await signUp(app)
    const admin = await signUpAdmin(app)
    const item = await createItem(t, app, user.access, uniqueName('item'), 3)

    t.equal(decode(user.access).is_admin, false)
    t.equal(decode(admin.access).is_admin, true)
    t.equal(decode(admin.refresh).is_admin, true)
    const refreshed = (await app.inject({ method: 'POST', url: '/refresh', headers: bearer(admin.refresh) })).json().access_token
    t.equal(decode(refreshed).is_admin, true, 'a refreshed admin token is still admin')

    expectError(t, await app.inject({ method: 'DELETE', url: `/item/${item.name}`, headers: bearer(user.access) }),
      403, 'admin_required', 'Admin privilege required.', 'non-admin delete')
    expectError(t, await app.inject({ method: 'DELETE', url: `/item/${item.name}`, headers: bearer(forge(flaskClaims(user.id, { is_admin: true }), { secret: OTHER_SECRET })) }),
      401, 'invalid_token', 'Signature verification failed.', 'a forged admin claim')
    expectError(t, await app.inject({ method: 'DELETE', url: `/item/${item.name}` }),
      401, 'authorization_required', 'Request does not contain an access token.', 'anonymous delete')
    t.equal((await app.inject({ method: 'GET', url: `/item/${item.name}`, headers: bearer(user.access) })).statusCode, 200,
      'the refused deletes left the item')

    const deleted = await app.inject({ method: 'DELETE', url: `/item/${item.name}`, headers: bearer(admin.access) })
    t.equal(deleted.statusCode, 200)
    t.same(deleted.json(), { message: 'Item deleted.' })
    expectError(t, await app.inject({ method: 'GET', url: `/item/${item.name}`, headers: bearer(user.access) }),
      404, 'not_found', 'Item not found.', 'the deleted item')
    expectError(t, await app.inject({ method: 'DELETE', url: `/item/${item.name}`, headers: bearer(admin.access) }),
      404, 'not_found', 'Item not found.', 'deleting a missing item')

    const other = await createItem(t, app, user.access, uniqueName('item'), 4)
    const byRefreshed = await app.inject({ method: 'DELETE', url: `/item/${other.name}`, headers: bearer(refreshed) })
    t.equal(byRefreshed.statusCode, 200, 'deleting needs admin, not freshness')
  })
})
