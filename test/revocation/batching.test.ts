import t from 'tap'
import { bearer, buildTestApp, forEachStore, logIn, signUp } from '../helpers'

// Revocation reads of concurrent requests share one Redis command: each must still get its own answer.
forEachStore(t, async (t, store) => {
  const app = await buildTestApp(t, { store })
  const users = await Promise.all(Array.from({ length: 4 }, async () => await signUp(app)))
  const sessions = []
  for (const user of users) {
    for (let i = 0; i < 5; i++) sessions.push({ user, session: await logIn(app, user.username, user.password) })
  }
  // Log out every other session, and delete the last user (a user-wide cut-off).
  const revoked = new Set<string>()
  for (const [index, { session }] of sessions.entries()) {
    if (index % 2 === 0) {
      t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(session.access) })).statusCode, 200)
      revoked.add(session.access)
    }
  }
  const doomed = users[3]
  t.equal((await app.inject({ method: 'DELETE', url: `/user/${doomed.id}`, headers: bearer(doomed.access) })).statusCode, 200)
  for (const { user, session } of sessions) if (user === doomed) revoked.add(session.access)

  const requests = [...sessions, ...sessions, ...sessions].map(({ session }) => session.access)
  const responses = await Promise.all(requests.map(async (token) =>
    await app.inject({ method: 'GET', url: '/items', headers: bearer(token) })))
  const expected = requests.map((token) => revoked.has(token) ? 401 : 200)
  t.same(responses.map((response) => response.statusCode), expected, 'each of 60 concurrent checks gets its own answer')
  t.ok(expected.includes(200) && expected.includes(401), 'the mix holds both answers')
})
