import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import gatehouseModule, { gatehouse, loadConfig, serverOptions } from '../src'
import { bearer, decode, forge, SECRET, tempDir } from './helpers'

// Gatehouse mounted as a plugin under /auth inside a host application that has routes, hooks and an
// error handler of its own: the whole API works there, and the host's routes are untouched.
t.test('Gatehouse mounted under /auth in a host Fastify app', async (t) => {
  t.equal(gatehouseModule, gatehouse, 'the plugin is also the default export')
  const config = loadConfig({ DATABASE_URL: `sqlite:${tempDir(t)}/mounted.db`, JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'silent' })
  const host = Fastify({ ...serverOptions(config), logger: false })
  host.get('/', async () => ({ host: true }))
  host.post('/echo', async (request) => ({ echoed: request.body }))
  host.get('/boom', async () => { throw new Error('host failure') })
  await host.register(gatehouse, { prefix: '/auth', config })
  await host.ready()
  t.teardown(async () => { await host.close() })

  const registered = await host.inject({ method: 'POST', url: '/auth/register', payload: { username: 'mounted', password: 'correct horse battery' } })
  t.equal(registered.statusCode, 201)
  const login = await host.inject({ method: 'POST', url: '/auth/login', payload: { username: 'mounted', password: 'correct horse battery' } })
  t.equal(login.statusCode, 200)
  const { access_token: access, refresh_token: refresh } = login.json()
  t.equal(decode(access).sub, String(registered.json().id))

  const created = await host.inject({ method: 'POST', url: '/auth/item/lamp', headers: bearer(access), payload: { price: 3 } })
  t.equal(created.statusCode, 201, 'a fresh-token route works under the prefix')
  const refreshed = await host.inject({ method: 'POST', url: '/auth/refresh', headers: bearer(refresh) })
  t.equal(refreshed.statusCode, 200)

  const logout = await host.inject({ method: 'POST', url: '/auth/logout', headers: bearer(access) })
  t.equal(logout.statusCode, 200)
  const revoked = await host.inject({ method: 'GET', url: '/auth/item/lamp', headers: bearer(access) })
  t.equal(revoked.statusCode, 401)
  t.same(revoked.json(), { statusCode: 401, error: 'token_revoked', message: revoked.json().message }, 'revocation holds, in our error shape')
  t.match(revoked.headers['www-authenticate'], /error="invalid_token"/)

  const forged = await host.inject({ method: 'GET', url: '/auth/item/lamp', headers: bearer(forge({ sub: '1', type: 'access' }, { secret: 'another secret' })) })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().error, 'invalid_token')

  const invalid = await host.inject({ method: 'POST', url: '/auth/register', payload: { username: 'x' } })
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.json().error, 'validation_error')
  const coerced = await host.inject({ method: 'POST', url: '/auth/register', payload: { username: 'numbers', password: 12345678901 } })
  t.equal(coerced.statusCode, 400, 'no type coercion inside Gatehouse, whatever the host does')
  const missing = await host.inject({ method: 'GET', url: '/auth/nowhere' })
  t.same(missing.json(), { statusCode: 404, error: 'not_found', message: 'Route GET /auth/nowhere not found.' })

  const openapi = await host.inject({ method: 'GET', url: '/auth/openapi.json' })
  t.equal(openapi.statusCode, 200)
  const paths = Object.keys(openapi.json().paths)
  t.ok(paths.includes('/auth/login') && paths.includes('/auth/item/{name}'), 'the document names the mounted paths')
  t.notOk(paths.includes('/') || paths.includes('/echo'), 'and none of the host\'s')

  const home = await host.inject({ method: 'GET', url: '/' })
  t.same(home.json(), { host: true })
  t.equal(home.headers['content-security-policy'], undefined, 'Gatehouse\'s hooks stay inside its prefix')
  t.equal(home.headers['x-request-id'], undefined)
  const echo = await host.inject({ method: 'POST', url: '/echo', payload: 'plain text', headers: { 'content-type': 'text/plain' } })
  t.same(echo.json(), { echoed: 'plain text' }, 'the host keeps its own content-type parsers')
  const boom = await host.inject({ method: 'GET', url: '/boom' })
  t.equal(boom.statusCode, 500)
  t.equal(boom.json().message, 'host failure', 'the host keeps its own error handler')
  t.equal(host.hasDecorator('tokens'), false, 'Gatehouse\'s decorators stay inside its context')
})

t.test('request.jwtVerify, left in place by @fastify/jwt, checks revocation too', async (t) => {
  const config = loadConfig({ DATABASE_URL: `sqlite:${tempDir(t)}/verify.db`, JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'silent' })
  // As buildApp runs it: Gatehouse's decorators are the instance's own, so a plugin author adding a
  // route beside it can reach for @fastify/jwt's decorator.
  const host = Fastify({ ...serverOptions(config), logger: false })
  await host.register(fp(gatehouse), { config })
  host.get('/whoami', async (request) => {
    const claims = await request.jwtVerify<{ sub: string }>()
    return { sub: claims.sub }
  })
  await host.ready()
  t.teardown(async () => { await host.close() })
  await host.inject({ method: 'POST', url: '/register', payload: { username: 'verifier', password: 'correct horse battery' } })
  const { access_token: access } = (await host.inject({ method: 'POST', url: '/login', payload: { username: 'verifier', password: 'correct horse battery' } })).json()
  t.equal((await host.inject({ method: 'GET', url: '/whoami', headers: bearer(access) })).statusCode, 200)
  await host.inject({ method: 'POST', url: '/logout', headers: bearer(access) })
  const after = await host.inject({ method: 'GET', url: '/whoami', headers: bearer(access) })
  t.equal(after.statusCode, 401, 'a revoked token is refused by request.jwtVerify')
})
