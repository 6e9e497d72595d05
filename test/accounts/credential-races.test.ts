import { randomUUID } from 'node:crypto'
import { connect, createServer, type Socket } from 'node:net'
import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, forEachDatabase, forEachStore, logIn, requireRedis, signUp, testDatabaseUrl, TEST_REDIS_URL } from '../helpers'

type Test = tap.Test

const LOGINS = 30

/**
 * Two instances sharing the database and the stores. Logins queue on the first one's single hash
 * slot, so most of them finish after the change made through the second has answered.
 */
async function twoInstances (t: Test, database: 'sqlite' | 'postgres', store: 'sql' | 'redis'): Promise<[App, App]> {
  const databaseUrl = await testDatabaseUrl(t, database)
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const env = { PASSWORD_HASH_CONCURRENCY: '1', LOGIN_MAX_FAILURES_PER_USERNAME: '1000' }
  return [await buildTestApp(t, { database, store, databaseUrl, redisKeyPrefix, env }), await buildTestApp(t, { database, store, databaseUrl, redisKeyPrefix, env })]
}

interface Outcome { statusCode: number, finishedAt: number, access?: string, refresh?: string }

/** LOGINS concurrent logins with `password`, each from its own address; `act` runs once they are all under way. */
async function loginsDuring (app: App, username: string, password: string, act: () => Promise<void>): Promise<{ outcomes: Outcome[], answeredAt: number }> {
  const pending = Array.from({ length: LOGINS }, async (_, i): Promise<Outcome> => {
    const response = await app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress: `10.9.0.${i + 1}` })
    const body = response.statusCode === 200 ? response.json() : {}
    return { statusCode: response.statusCode, finishedAt: Date.now(), access: body.access_token, refresh: body.refresh_token }
  })
  await new Promise((resolve) => setTimeout(resolve, 30))
  await act()
  const answeredAt = Date.now()
  return { outcomes: await Promise.all(pending), answeredAt }
}

/** Every route a token of `outcomes` could open: none may accept one. */
async function assertNoneAccepted (t: Test, apps: App[], id: number, outcomes: Outcome[], answeredAt: number): Promise<void> {
  const late = outcomes.filter((outcome) => outcome.finishedAt > answeredAt)
  t.ok(late.length > 0, `${late.length} logins finished after the change answered`)
  // Most are refused outright (401); one whose check came just before the change may answer after
  // it, with tokens dated before its cut-off, which the checks below must find refused everywhere.
  t.ok(late.filter((outcome) => outcome.statusCode === 401).length >= late.length / 2,
    `logins finishing after the change answered are refused (${late.map((outcome) => outcome.statusCode).join(',')})`)
  let accepted = 0
  for (const outcome of outcomes.filter((outcome) => outcome.access !== undefined)) {
    for (const app of apps) {
      const checks = [
        await app.inject({ method: 'GET', url: `/user/${id}`, headers: bearer(outcome.access!) }),
        await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(outcome.access!) }),
        await app.inject({ method: 'POST', url: '/logout/all', headers: bearer(outcome.access!) }),
        await app.inject({ method: 'POST', url: '/refresh', headers: bearer(outcome.refresh!) })
      ]
      accepted += checks.filter((response) => response.statusCode < 400).length
    }
  }
  t.equal(accepted, 0, 'no token of a login with the old password is accepted anywhere')
}

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('logins with the old password racing a password change', async (t) => {
      const [a, b] = await twoInstances(t, database, store)
      const user = await signUp(b)
      const { outcomes, answeredAt } = await loginsDuring(a, user.username, user.password, async () => {
        const changed = await b.inject({
          method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: user.password, new_password: 'a brand new secret' }
        })
        t.equal(changed.statusCode, 200, 'the change answers')
      })
      await assertNoneAccepted(t, [a, b], user.id, outcomes, answeredAt)
      t.equal((await logIn(a, user.username, 'a brand new secret')).id, user.id, 'the new password works')
    })

    await t.test('logins racing the deletion of the account', async (t) => {
      const [a, b] = await twoInstances(t, database, store)
      const user = await signUp(b)
      const { outcomes, answeredAt } = await loginsDuring(a, user.username, user.password, async () => {
        t.equal((await b.inject({ method: 'DELETE', url: `/user/${user.id}`, headers: bearer(user.access) })).statusCode, 200, 'the deletion answers')
      })
      await assertNoneAccepted(t, [a, b], user.id, outcomes, answeredAt)
    })
  })
})

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
