import { randomUUID } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import t from 'tap'
import { bearer, buildTestApp, forEachDatabase, logIn, requireRedis, signUp, testDatabaseUrl, TEST_REDIS_URL } from '../helpers'

type Test = tap.Test

// Refreshes racing a change of credentials. Logins racing one are in credential-races.test.ts.

/** A relay to Redis that holds every answer back `delayMs`: a slow network between an instance and its store. */
async function slowRedis (t: Test, delayMs: number): Promise<string> {
  const { hostname, port } = new URL(TEST_REDIS_URL)
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(port || 6379), hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => { sockets.delete(socket); client.destroy(); upstream.destroy() })
    }
    client.pipe(upstream)
    upstream.on('data', (chunk) => { setTimeout(() => { if (!client.destroyed) client.write(chunk) }, delayMs) })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => { server.close(resolve) })
  })
  return `redis://127.0.0.1:${(server.address() as { port: number }).port}`
}

forEachDatabase(t, async (t, database) => {
  t.test('refreshes racing a password change: no token they issue outlives the change', async (t) => {
    if (!await requireRedis(t)) return
    const databaseUrl = await testDatabaseUrl(t, database)
    const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
    // The refreshing instance reaches Redis slowly, so its check and its act are far apart.
    const a = await buildTestApp(t, { database, store: 'redis', databaseUrl, redisKeyPrefix, env: { REDIS_URL: await slowRedis(t, 40), REDIS_TIMEOUT_MS: '2000' } })
    const b = await buildTestApp(t, { database, store: 'redis', databaseUrl, redisKeyPrefix })
    const user = await signUp(b)
    const sessions = []
    for (let i = 0; i < 40; i++) sessions.push(await logIn(b, user.username, user.password))

    const refreshes = sessions.map(async (session, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 5))
      const response = await a.inject({ method: 'POST', url: '/refresh', headers: bearer(session.refresh) })
      return response.statusCode === 200 ? [response.json().access_token as string, response.json().refresh_token as string] : []
    })
    await new Promise((resolve) => setTimeout(resolve, 40))
    const changed = await b.inject({
      method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: user.password, new_password: 'a brand new secret' }
    })
    t.equal(changed.statusCode, 200, 'the change answers')
    const [access, refresh] = [[] as string[], [] as string[]]
    for (const tokens of await Promise.all(refreshes)) {
      if (tokens.length === 2) { access.push(tokens[0]); refresh.push(tokens[1]) }
    }
    let accepted = 0
    for (const app of [a, b]) {
      for (const token of access) {
        accepted += [
          await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(token) }),
          await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(token) })
        ].filter((response) => response.statusCode < 400).length
      }
    }
    for (const token of refresh) accepted += (await b.inject({ method: 'POST', url: '/refresh', headers: bearer(token) })).statusCode < 400 ? 1 : 0
    t.equal(accepted, 0, `no token of the ${access.length} refreshes that answered 200 is accepted after the change`)
  })
})
