import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp, signUp } from '../helpers'
import { rawGet, rawRequest } from '../helpers/raw-http'

type App = Awaited<ReturnType<typeof buildTestApp>>

async function cookieLogin (app: App): Promise<{ cookie: string, csrf: string }> {
  const user = await signUp(app)
  const login = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  const cookies = Object.fromEntries(login.cookies.map(({ name, value }) => [name, value]))
  return { cookie: `access_token_cookie=${cookies.access_token_cookie as string}`, csrf: cookies.csrf_access_token as string }
}

t.test('a non-ASCII X-CSRF-TOKEN is a csrf_mismatch, never a 500', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'cookies' } })
  const { cookie, csrf } = await cookieLogin(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  t.equal(csrf.length, 36)
  const post = (token: Buffer): Buffer => rawGet('/logout', [['Cookie', cookie], ['X-CSRF-TOKEN', token]], 'POST')
  for (const [what, token] of [
    ['36 bytes of 0xE9', Buffer.alloc(36, 0xe9)],
    ['18 two-byte UTF-8 characters (36 bytes)', Buffer.from('é'.repeat(18))],
    ['36 characters of UTF-8, more bytes', Buffer.from('é'.repeat(36))],
    ['the right value with its last byte 0xE9', Buffer.concat([Buffer.from(csrf.slice(0, -1)), Buffer.from([0xe9])])]
  ] as Array<[string, Buffer]>) {
    const answer = await rawRequest(port, post(token))
    t.equal(answer.status, 401, what)
    t.same(answer.json, { statusCode: 401, error: 'csrf_mismatch', message: 'CSRF double submit tokens do not match.' })
  }
  t.equal((await rawRequest(port, post(Buffer.from(csrf)))).status, 200, 'the right one still logs out')
})

t.test('GET /auth/verify checks CSRF for the method of the request nginx guards', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'cookies' } })
  const { cookie, csrf } = await cookieLogin(app)
  const verify = async (headers: Record<string, string>) =>
    await app.inject({ method: 'GET', url: '/auth/verify', headers: { cookie, ...headers } })

  for (const method of ['GET', 'HEAD', 'OPTIONS']) {
    t.equal((await verify({ 'x-original-method': method })).statusCode, 204, `${method}: no CSRF header needed`)
  }
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'get']) {
    const refused = await verify({ 'x-original-method': method })
    t.equal(refused.statusCode, 401, `${method} without X-CSRF-TOKEN: 401`)
    t.equal(refused.json().error, 'csrf_mismatch')
    t.equal((await verify({ 'x-original-method': method, 'x-csrf-token': 'x'.repeat(36) })).statusCode, 401, `${method} with a wrong one: 401`)
    t.equal((await verify({ 'x-original-method': method, 'x-csrf-token': csrf })).statusCode, 204, `${method} with the right one: 204`)
  }
  const oldConfig = await verify({})
  t.equal(oldConfig.statusCode, 401, 'no X-Original-Method (an old nginx config) counts as state-changing: fails closed')
  t.equal(oldConfig.json().error, 'csrf_mismatch')
  t.equal((await verify({ 'x-csrf-token': csrf })).statusCode, 204, 'unless the CSRF header is there')
  const user = await signUp(app)
  t.equal((await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${user.access}`, 'x-original-method': 'POST' } })).statusCode, 401,
    'cookies-only mode reads no Authorization header')
})

t.test('a token in the Authorization header needs no CSRF header through the gateway', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_TOKEN_LOCATION: 'headers,cookies' } })
  const user = await signUp(app)
  const answer = await app.inject({ method: 'GET', url: '/auth/verify', headers: { authorization: `Bearer ${user.access}`, 'x-original-method': 'POST' } })
  t.equal(answer.statusCode, 204)
})
