import t from 'tap'
import { bearer, buildTestApp, signUp } from '../helpers'

const HSTS = 'max-age=31536000; includeSubDomains'

t.test('every answer carries the security headers of a JSON API', async (t) => {
  const app = await buildTestApp(t)
  const user = await signUp(app)
  const answers = {
    'a success': await app.inject({ method: 'GET', url: '/items', headers: bearer(user.access) }),
    'a 401': await app.inject({ method: 'GET', url: '/item/x' }),
    'a 400': await app.inject({ method: 'POST', url: '/register', payload: { username: 'x' } }),
    'an unknown route': await app.inject({ method: 'GET', url: '/nowhere' }),
    'a health check': await app.inject({ method: 'GET', url: '/health/live' })
  }
  for (const [what, response] of Object.entries(answers)) {
    t.match(response.headers, {
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin'
    }, what)
    t.notOk(/at .*\.(js|ts):\d+/.test(response.body), `${what} holds no stack trace`)
    t.notOk('strict-transport-security' in response.headers, `${what}: no HSTS over plain HTTP`)
  }
})

t.test('HSTS only where the request came over HTTPS: through a trusted proxy that says so', async (t) => {
  const app = await buildTestApp(t, { env: { TRUST_PROXY: '10.0.0.0/8' } })
  const answer = async (remoteAddress: string, proto?: string) => await app.inject({
    url: '/health/live', remoteAddress, headers: proto === undefined ? {} : { 'x-forwarded-proto': proto }
  })
  t.equal((await answer('10.0.0.5', 'https')).headers['strict-transport-security'], HSTS, 'the trusted proxy took HTTPS')
  t.equal((await answer('10.0.0.5', 'http, https')).headers['strict-transport-security'], HSTS, 'the last proxy\'s word counts')
  for (const [remoteAddress, proto, what] of [
    ['10.0.0.5', 'http', 'the trusted proxy took plain HTTP'],
    ['10.0.0.5', undefined, 'the trusted proxy says nothing'],
    ['198.51.100.7', 'https', 'anyone else claiming HTTPS']
  ] as const) {
    t.notOk('strict-transport-security' in (await answer(remoteAddress, proto)).headers, `no HSTS: ${what}`)
  }
})
