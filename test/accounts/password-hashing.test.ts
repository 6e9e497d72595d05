import t from 'tap'
import { buildTestApp, signUp } from '../helpers'

t.test('password hashes run a bounded number at a time; past the queue, 503 server_busy', async (t) => {
  const app = await buildTestApp(t, { env: { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '2' } })
  const user = await signUp(app)
  const responses = await Promise.all(Array.from({ length: 10 }, async () =>
    await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })))
  const codes = responses.map((response) => response.statusCode).sort()
  t.same(codes, [200, 200, 200, 503, 503, 503, 503, 503, 503, 503], 'one hashing, two waiting, the rest refused')
  const busy = responses.find((response) => response.statusCode === 503)!
  t.same(busy.json(), { statusCode: 503, error: 'server_busy', message: 'The server is busy; try again shortly.' })
  t.equal(busy.headers['retry-after'], '1')

  const after = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  t.equal(after.statusCode, 200, 'the line empties and logins go on')
})

t.test('a wrong password and an unknown user go through the same hashing line', async (t) => {
  const app = await buildTestApp(t, { env: { PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '0' } })
  const user = await signUp(app)
  const [first, second] = await Promise.all([
    app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: 'wrong password' } }),
    app.inject({ method: 'POST', url: '/login', payload: { username: 'nobody_here', password: 'wrong password' } })
  ])
  t.same([first.statusCode, second.statusCode].sort(), [401, 503])
})
