import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { call } from '../helpers/http-call'
import { flaskClaims, forge, SECRET, tempDir, testDatabaseUrl, uniqueName } from '../helpers'
import { GATEWAY_CONF, GATEWAY_SERVERS, runNginx } from '../helpers/nginx'
import { startServer } from '../helpers/server-process'

t.test('nginx guards another upstream with GET /auth/verify', async (t) => {
  // The protected service: it answers who nginx says the caller is, and records what it saw.
  const seen: IncomingHttpHeaders[] = []
  const upstream = createServer((request, response) => {
    seen.push(request.headers)
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ user: request.headers['x-auth-user-id'] ?? null }))
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { upstream.close() })

  const gatehouse = await startServer(t, tempDir(t), {
    DATABASE_URL: await testDatabaseUrl(t, 'sqlite'), JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'info'
  })
  const nginx = await runNginx(t, GATEWAY_CONF, {
    [GATEWAY_SERVERS.app]: `127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    [GATEWAY_SERVERS.gatehouse]: `127.0.0.1:${gatehouse.port}`
  })
  if (nginx === undefined) return

  const username = uniqueName('gate')
  const password = 'correct horse battery'
  t.equal((await call(gatehouse.url, '/register', { method: 'POST', body: { username, password } })).status, 201)
  const login = (await call(gatehouse.url, '/login', { method: 'POST', body: { username, password } })).json
  const id = JSON.parse(Buffer.from(login.access_token.split('.')[1], 'base64url').toString()).sub as string

  const allowed = await call(nginx.url, '/anything?x=1', { token: login.access_token })
  t.equal(allowed.status, 200, 'with a token, the upstream answers')
  t.same(allowed.json, { user: id })
  t.equal(seen.at(-1)?.['x-auth-user-id'], id, 'and sees the user id header')
  t.equal(seen.at(-1)?.['x-auth-is-admin'], 'false')
  t.notOk(seen.at(-1)?.authorization, 'the token stays at the gate')

  const spoofed = await call(nginx.url, '/anything', { token: login.access_token, headers: { 'x-auth-user-id': '999999' } })
  t.same(spoofed.json, { user: id }, "a client's own X-Auth-User-Id never reaches the upstream")

  const before = seen.length
  const refused: Array<[string, Record<string, string>]> = [
    ['no token', {}],
    ['no token but a forged identity header', { 'x-auth-user-id': id }],
    ['an expired token', { authorization: `Bearer ${forge(flaskClaims(id, { exp: 1 }))}` }],
    ['a token of another secret', { authorization: `Bearer ${forge(flaskClaims(id), { secret: 'not the secret, but 32 bytes long!' })}` }],
    ['a refresh token', { authorization: `Bearer ${login.refresh_token as string}` }]
  ]
  for (const [what, headers] of refused) {
    t.equal((await call(nginx.url, '/anything', { headers })).status, 401, `${what}: nginx answers 401`)
  }

  t.equal((await call(gatehouse.url, '/logout', { method: 'POST', token: login.access_token })).status, 200)
  t.equal((await call(nginx.url, '/anything', { token: login.access_token })).status, 401, 'a revoked token: 401')
  t.equal(seen.length, before, 'the upstream saw none of the refused requests')
})

t.test('cookie-only requests through nginx: a state-changing method needs the CSRF double submit', async (t) => {
  const seen: string[] = []
  const upstream = createServer((request, response) => {
    seen.push(`${request.method ?? ''} ${request.headers['x-auth-user-id'] as string}`)
    response.end('reached')
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { upstream.close() })
  const gatehouse = await startServer(t, tempDir(t), {
    DATABASE_URL: await testDatabaseUrl(t, 'sqlite'), JWT_SECRET_KEY: SECRET, JWT_TOKEN_LOCATION: 'cookies', JWT_COOKIE_SECURE: 'false'
  })
  const nginx = await runNginx(t, GATEWAY_CONF, {
    [GATEWAY_SERVERS.app]: `127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    [GATEWAY_SERVERS.gatehouse]: `127.0.0.1:${gatehouse.port}`
  })
  if (nginx === undefined) return

  const credentials = { username: uniqueName('victim'), password: 'correct horse battery' }
  t.equal((await call(gatehouse.url, '/register', { method: 'POST', body: credentials })).status, 201)
  const login = await call(gatehouse.url, '/login', { method: 'POST', body: credentials })
  const cookies = new Map((login.headers['set-cookie'] ?? []).map((line) => line.split(';')[0].split('=') as [string, string]))
  const cookie = `access_token_cookie=${cookies.get('access_token_cookie') ?? ''}`
  const csrf = cookies.get('csrf_access_token') ?? ''
  t.ok(csrf.length > 0, 'the login set the readable CSRF cookie')

  t.equal((await call(nginx.url, '/page', { headers: { cookie } })).status, 200, 'a cookie-only GET passes')
  t.equal(seen.length, 1)
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    const before = seen.length
    for (const [what, headers] of [
      ['no X-CSRF-TOKEN', { cookie }],
      ['a wrong X-CSRF-TOKEN', { cookie, 'x-csrf-token': `${csrf.slice(0, -1)}0` }],
      ['an empty X-CSRF-TOKEN', { cookie, 'x-csrf-token': '' }],
      ['a client-sent X-Original-Method: GET', { cookie, 'x-original-method': 'GET' }]
    ] as Array<[string, Record<string, string>]>) {
      const answer = await call(nginx.url, '/transfer', { method, headers })
      t.equal(answer.status, 401, `${method} with ${what}: 401`)
    }
    t.equal(seen.length, before, `${method}: none of them reached the upstream`)
    const allowed = await call(nginx.url, '/transfer', { method, headers: { cookie, 'x-csrf-token': csrf } })
    t.equal(allowed.status, 200, `${method} with the right X-CSRF-TOKEN passes`)
    t.equal(seen.at(-1), `${method} ${JSON.parse(Buffer.from(cookies.get('access_token_cookie')!.split('.')[1], 'base64url').toString()).sub as string}`)
  }
})
