import { randomUUID } from 'node:crypto'
import t from 'tap'
import Fastify, { type InjectOptions } from 'fastify'
import fp from 'fastify-plugin'
import { gatehouse } from '../../src/app'
import { bearer, buildTestApp, decode, flaskClaims, forEachStore, forge, signUp, testConfig } from '../helpers'

type Test = tap.Test

// The defects of moving a Flask-JWT-Extended service onto Gatehouse (issue 13), through HTTP.

const now = (): number => Math.floor(Date.now() / 1000)

/** Every route a protected token opens, with what it needs. */
function protectedRoutes (sub: string | number): InjectOptions[] {
  return [
    { method: 'GET', url: '/item/lamp' },
    { method: 'POST', url: '/item/lamp', payload: { price: 1 } },
    { method: 'PUT', url: '/item/lamp', payload: { price: 1 } },
    { method: 'DELETE', url: '/item/lamp' },
    { method: 'GET', url: '/items' },
    { method: 'GET', url: '/auth/verify' },
    { method: 'GET', url: `/user/${sub}` },
    { method: 'POST', url: '/logout' },
    { method: 'POST', url: '/logout/all' }
  ]
}

/** Waits, if need be, until early in a second, so what follows happens within one second. */
async function startOfSecond (): Promise<void> {
  const ms = Date.now() % 1000
  if (ms > 300) await new Promise((resolve) => setTimeout(resolve, 1000 - ms + 5))
}

t.test('issuer and audience', async (t) => {
  const env = { JWT_ENCODE_ISSUER: 'gatehouse', JWT_DECODE_ISSUER: 'gatehouse', JWT_ENCODE_AUDIENCE: 'shop-api', JWT_DECODE_AUDIENCE: 'shop-api,admin-api' }
  const app = await buildTestApp(t, { env })
  const user = await signUp(app)
  const claims = decode(user.access)
  t.equal(claims.iss, 'gatehouse', 'Gatehouse writes JWT_ENCODE_ISSUER')
  t.equal(claims.aud, 'shop-api', 'Gatehouse writes JWT_ENCODE_AUDIENCE')
  t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(user.access) })).statusCode, 404, 'its own token passes')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).statusCode, 200, 'its own refresh token passes')

  const refused: Array<[string, Record<string, unknown>, string]> = [
    ['without iss', { aud: 'shop-api' }, 'iss'],
    ['from another issuer', { iss: 'flask', aud: 'shop-api' }, 'iss'],
    ['without aud', { iss: 'gatehouse' }, 'aud'],
    ['for another audience', { iss: 'gatehouse', aud: 'billing' }, 'aud'],
    ['for other audiences', { iss: 'gatehouse', aud: ['billing', 'mail'] }, 'aud'],
    ['with a number issuer', { iss: 1, aud: 'shop-api' }, 'iss']
  ]
  for (const [what, extra, claim] of refused) {
    const res = await app.inject({ method: 'GET', url: '/item/x', headers: bearer(forge(flaskClaims(user.id, extra))) })
    t.equal(res.statusCode, 401, `a token ${what} is refused`)
    t.equal(res.json().error, 'invalid_token', what)
    t.match(res.json().message, claim, `${what}: the message names ${claim}`)
  }
  const listed = forge(flaskClaims(user.id, { iss: 'gatehouse', aud: ['billing', 'admin-api'] }))
  t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(listed) })).statusCode, 404, 'one accepted audience in a list is enough')

  await t.test("a host's own route on request.jwtVerify() applies the same rules", async (t) => {
    const host = Fastify({ logger: false })
    await host.register(fp(gatehouse, { name: 'gatehouse' }), { config: testConfig(t, { env }) })
    host.get('/mine', async (request) => { await request.jwtVerify(); return { sub: (request.user as { sub: string }).sub } })
    t.teardown(async () => { await host.close() })
    const mine = await host.inject({ method: 'POST', url: '/register', payload: { username: 'host_user', password: 'a long password' } })
    const id = mine.json().id as number
    const good = forge(flaskClaims(id, { iss: 'gatehouse', aud: 'shop-api' }))
    t.equal((await host.inject({ method: 'GET', url: '/mine', headers: bearer(good) })).statusCode, 200)
    for (const extra of [{ aud: 'shop-api' }, { iss: 'flask', aud: 'shop-api' }, { iss: 'gatehouse', aud: 'billing' }]) {
      t.equal((await host.inject({ method: 'GET', url: '/mine', headers: bearer(forge(flaskClaims(id, extra))) })).statusCode, 401, `refused: ${JSON.stringify(extra)}`)
    }
  })

  await t.test('without decode settings, iss and aud are accepted as before', async (t) => {
    const plain = await buildTestApp(t)
    const other = await signUp(plain)
    t.notOk('iss' in decode(other.access), 'no issuer written by default')
    const token = forge(flaskClaims(other.id, { iss: 'flask', aud: ['x', 'y'] }))
    t.equal((await plain.inject({ method: 'GET', url: '/item/x', headers: bearer(token) })).statusCode, 404)
  })
})

t.test('JWT_DECODE_LEEWAY: exp and nbf are given that many seconds', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_DECODE_LEEWAY: '30' } })
  const user = await signUp(app)
  const get = async (extra: Record<string, unknown>) =>
    await app.inject({ method: 'GET', url: '/item/x', headers: bearer(forge(flaskClaims(user.id, extra))) })
  t.equal((await get({ exp: now() - 10 })).statusCode, 404, 'expired 10 s ago, within the leeway')
  t.equal((await get({ exp: now() - 60 })).json().error, 'token_expired', 'expired 60 s ago')
  t.equal((await get({ nbf: now() + 10 })).statusCode, 404, 'valid in 10 s, within the leeway')
  t.equal((await get({ nbf: now() + 60 })).json().error, 'invalid_token', 'valid in 60 s')
})

forEachStore(t, async (t, store) => {
  t.test('a token whose account does not exist is refused everywhere', async (t: Test) => {
    const app = await buildTestApp(t, { store })
    const user = await signUp(app)
    await app.users.setAdmin(user.id, true)
    const ghost = 4242
    for (const route of protectedRoutes(ghost)) {
      const token = forge(flaskClaims(ghost, { fresh: true, is_admin: true }))
      const res = await app.inject({ ...route, headers: bearer(token) })
      t.equal(res.statusCode, 401, `${route.method} ${route.url}: 401`)
      t.same(res.json(), { statusCode: 401, error: 'invalid_token', message: 'The account of the token does not exist.' }, `${route.method} ${route.url}`)
    }
    const refresh = forge(flaskClaims(ghost, { type: 'refresh' }))
    const res = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(refresh) })
    t.same(res.json().error, 'invalid_token', 'POST /refresh too')

    // Deleted after the token was issued elsewhere: the deletion's cut-off would not cover a
    // token issued later, so existence is what refuses it.
    const victim = await signUp(app)
    t.equal((await app.inject({ method: 'DELETE', url: `/user/${victim.id}`, headers: bearer(victim.access) })).statusCode, 200)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const later = forge(flaskClaims(victim.id, { fresh: true }))
    const after = await app.inject({ method: 'PUT', url: '/item/lamp', headers: bearer(later), payload: { price: 2 } })
    t.equal(after.json().message, 'The account of the token does not exist.', 'a foreign token issued after the deletion')
    t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(forge(flaskClaims(user.id))) })).statusCode, 404, 'control: a live account passes')
  })

  t.test('user-wide cut-offs count a foreign token from the start of its second', async (t: Test) => {
    const app = await buildTestApp(t, { store })
    for (const how of ['logout/all', 'password change'] as const) {
      const user = await signUp(app)
      await startOfSecond()
      const foreign = forge(flaskClaims(user.id, { iat: now(), nbf: now() }))
      if (how === 'logout/all') {
        t.equal((await app.inject({ method: 'POST', url: '/logout/all', headers: bearer(user.access) })).statusCode, 200)
      } else {
        const res = await app.inject({ method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: user.password, new_password: 'another horse battery' } })
        t.equal(res.statusCode, 200)
        const fresh = res.json().access_token
        t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(fresh) })).statusCode, 404, 'the pair issued with the change works (ms precision)')
      }
      const res = await app.inject({ method: 'GET', url: '/item/x', headers: bearer(foreign) })
      t.equal(res.json().error, 'token_revoked', `a foreign token of the same second is cut off by ${how}`)
      const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: how === 'logout/all' ? user.password : 'another horse battery' } })
      t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(login.json().access_token) })).statusCode, 404, `a login right after ${how} works`)
    }
  })
})

t.test('a token without iat is refused', async (t) => {
  const app = await buildTestApp(t)
  const user = await signUp(app)
  const { iat: _iat, ...claims } = flaskClaims(user.id)
  const res = await app.inject({ method: 'GET', url: '/item/x', headers: bearer(forge(claims)) })
  t.same(res.json(), { statusCode: 401, error: 'invalid_token', message: "The token's iat claim is missing or malformed." })
})

t.test('freshness timestamps are compared to the millisecond', async (t) => {
  const app = await buildTestApp(t)
  const user = await signUp(app)
  const token = forge(flaskClaims(user.id, { fresh: Date.now() / 1000 - 0.002 }))
  const res = await app.inject({ method: 'POST', url: '/item/lamp', headers: bearer(token), payload: { price: 1 } })
  t.equal(res.json().error, 'fresh_token_required', 'fresh until 2 ms ago is not fresh')
  const verify = await app.inject({ method: 'GET', url: '/auth/verify?fresh=1', headers: bearer(token) })
  t.equal(verify.statusCode, 403, '/auth/verify?fresh=1 alike')
  const still = forge(flaskClaims(user.id, { fresh: Date.now() / 1000 + 5 }))
  t.equal((await app.inject({ method: 'POST', url: '/item/lamp', headers: bearer(still), payload: { price: 1 } })).statusCode, 201, 'fresh for 5 s more')
})

t.test('seed-era (Flask-JWT-Extended 3.x) and integer identities', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_IDENTITY_CLAIM: 'identity', JWT_USER_CLAIMS: 'user_claims' } })
  const user = await signUp(app)
  const admin = await signUp(app)
  await app.users.setAdmin(admin.id, true)
  // As Flask-JWT-Extended 3.x writes them: no sub, the identity an integer, custom claims in user_claims.
  const v3 = (identity: number, extra: Record<string, unknown>) => {
    const iat = now()
    return forge({ iat, nbf: iat, jti: randomUUID(), exp: iat + 900, identity, ...extra })
  }
  const access = v3(user.id, { fresh: true, type: 'access', user_claims: { is_admin: false } })
  t.equal((await app.inject({ method: 'POST', url: '/item/lamp', headers: bearer(access), payload: { price: 3 } })).statusCode, 201, 'a fresh 3.x access token')
  const verified = await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(access) })
  t.equal(verified.headers['x-auth-user-id'], String(user.id), 'the integer identity read as its decimal string')
  t.equal((await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(access) })).statusCode, 200, 'its own account')
  t.equal((await app.inject({ method: 'DELETE', url: '/item/lamp', headers: bearer(access) })).json().error, 'admin_required')

  const adminAccess = v3(admin.id, { fresh: false, type: 'access', user_claims: { is_admin: true } })
  t.equal((await app.inject({ method: 'DELETE', url: '/item/lamp', headers: bearer(adminAccess) })).statusCode, 200, 'is_admin read from user_claims')

  const refresh = v3(user.id, { type: 'refresh', user_claims: {} })
  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(refresh) })
  t.equal(refreshed.statusCode, 200, 'a 3.x refresh token refreshes')
  const minted = decode(refreshed.json().access_token)
  t.equal(minted.sub, String(user.id), 'Gatehouse mints its 4.x layout')
  t.notOk('identity' in minted || 'user_claims' in minted, 'and nothing of 3.x')

  const v4 = forge(flaskClaims(user.id))
  t.equal((await app.inject({ method: 'GET', url: '/item/x', headers: bearer(v4) })).statusCode, 404, 'a 4.x token still passes')

  await t.test('an integer sub, by default', async (t) => {
    const plain = await buildTestApp(t)
    const other = await signUp(plain)
    const token = forge(flaskClaims(other.id, { sub: other.id }))
    const res = await plain.inject({ method: 'GET', url: '/auth/verify', headers: bearer(token) })
    t.equal(res.statusCode, 204)
    t.equal(res.headers['x-auth-user-id'], String(other.id))
    const { sub: _sub, ...noSub } = flaskClaims(other.id)
    const identityOnly = forge({ ...noSub, identity: other.id })
    t.equal((await plain.inject({ method: 'GET', url: '/item/x', headers: bearer(identityOnly) })).json().error, 'invalid_token',
      'identity is not read unless JWT_IDENTITY_CLAIM says so')
    for (const sub of [-1, 1.5, 2 ** 60, true]) {
      const bad = forge(flaskClaims(other.id, { sub }))
      t.equal((await plain.inject({ method: 'GET', url: '/item/x', headers: bearer(bad) })).json().error, 'invalid_token', `sub ${String(sub)} is refused`)
    }
  })
})
