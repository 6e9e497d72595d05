import t from 'tap'
import { bearer, buildTestApp, signUp } from '../helpers'

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
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin'
    }, what)
    t.notOk(/at .*\.(js|ts):\d+/.test(response.body), `${what} holds no stack trace`)
  }
})
