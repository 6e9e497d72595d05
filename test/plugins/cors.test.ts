import t from 'tap'
import { loadConfig } from '../../src/config'
import { buildTestApp } from '../helpers'

const APP = 'https://app.example.com'
const preflight = (origin: string, method = 'POST', headers = 'content-type') => ({
  method: 'OPTIONS' as const, url: '/login', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers }
})

t.test('without CORS_ORIGINS no origin is allowed: no preflight route, no CORS header', async (t) => {
  const app = await buildTestApp(t)
  t.equal((await app.inject(preflight(APP))).statusCode, 404)
  const answer = await app.inject({ url: '/items', headers: { origin: APP } })
  t.equal(answer.statusCode, 200)
  t.notOk('access-control-allow-origin' in answer.headers)
})

t.test('CORS_ORIGINS: listed origins get CORS with credentials, any other gets nothing', async (t) => {
  const app = await buildTestApp(t, { env: { CORS_ORIGINS: `${APP},http://localhost:5173` } })
  const allowed = await app.inject(preflight(APP, 'POST', 'content-type,x-csrf-token'))
  t.equal(allowed.statusCode, 204, 'OPTIONS /login answers the preflight')
  t.match(allowed.headers, {
    'access-control-allow-origin': APP,
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': /POST/,
    'access-control-allow-headers': /authorization.*content-type.*x-csrf-token/,
    vary: /Origin/
  })
  const read = await app.inject({ url: '/items', headers: { origin: 'http://localhost:5173' } })
  t.match(read.headers, { 'access-control-allow-origin': 'http://localhost:5173', 'access-control-allow-credentials': 'true' })
  t.match(read.headers['access-control-expose-headers'], /www-authenticate/)

  for (const origin of ['https://evil.example', 'https://app.example.com.evil.example', 'null', 'http://app.example.com']) {
    const refused = await app.inject(preflight(origin))
    t.notOk('access-control-allow-origin' in refused.headers, `${origin}: no Allow-Origin on the preflight`)
    t.notOk('access-control-allow-credentials' in refused.headers, `${origin}: nor credentials`)
    const answer = await app.inject({ url: '/items', headers: { origin } })
    t.notOk('access-control-allow-origin' in answer.headers || 'access-control-allow-credentials' in answer.headers, `${origin}: nothing on an answer`)
  }
})

t.test('CORS_ORIGINS refuses a wildcard or a path', async (t) => {
  for (const value of ['*', 'https://app.example.com/', 'https://a.example, https://b.example', 'app.example.com']) {
    t.throws(() => loadConfig({ CORS_ORIGINS: value }), { message: /CORS_ORIGINS: must be origins/ }, value)
  }
  t.same(loadConfig({ CORS_ORIGINS: 'https://a.example,http://127.0.0.1:8080' }).cors.origins, ['https://a.example', 'http://127.0.0.1:8080'])
})
