import { randomUUID } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, decode, forEachDatabase, forEachStore, redisClient, signUp, testDatabaseUrl } from '../helpers'

type App = Awaited<ReturnType<typeof buildTestApp>>
const refresh = async (app: App, token: string) => await app.inject({ method: 'POST', url: '/refresh', headers: bearer(token) })
const get = async (app: App, token: string): Promise<number> =>
  (await app.inject({ method: 'GET', url: '/items', headers: bearer(token) })).statusCode
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Refresh tokens minted by an instance so far, from its own /metrics. */
async function refreshTokensIssued (app: App): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  return Number(/^gatehouse_tokens_issued_total\{type="refresh"\} (\d+)$/m.exec(text)?.[1] ?? 0)
}

/** Two instances sharing one database and one revocation store. */
async function twoInstances (t: tap.Test, database: 'sqlite' | 'postgres', store: 'sql' | 'redis', env: Record<string, string> = {}): Promise<[App, App]> {
  const databaseUrl = await testDatabaseUrl(t, database)
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const a = await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env })
  const b = await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env })
  return [a, b]
}

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('20 concurrent refreshes with one token, on two instances, within the interval: one pair minted, every answer that pair', async (t) => {
      const [a, b] = await twoInstances(t, database, store)
      const user = await signUp(a)
      const before = await refreshTokensIssued(a) + await refreshTokensIssued(b)
      const responses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, user.refresh)))
      t.same(responses.map((response) => response.statusCode), Array(20).fill(200), 'every request answers 200')
      const pair = responses[0].json()
      t.match(pair, { access_token: String, refresh_token: String })
      for (const response of responses) t.same(response.json(), pair, 'the identical pair')
      t.equal(await refreshTokensIssued(a) + await refreshTokensIssued(b) - before, 1, 'exactly one refresh token minted, over both instances')
      t.equal(responses[0].headers['cache-control'], 'no-store')
      t.equal(decode(pair.access_token).sid, decode(user.refresh).sid, 'in the same session')

      t.equal(await get(b, pair.access_token), 200, 'the pair works')
      t.equal(await get(a, user.access), 200, 'and the session goes on: no reuse was detected')
      const next = await refresh(b, pair.refresh_token)
      t.equal(next.statusCode, 200, 'its refresh token is the next in the chain')
      const sessions = (await a.inject({ method: 'GET', url: '/sessions', headers: bearer(next.json().access_token) })).json().sessions
      t.equal(sessions.length, 1, 'no second branch of the session')
    })

    await t.test('after the interval, presenting the spent token is reuse: the session ends, on every instance', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '1' })
      const user = await signUp(a)
      const first = await refresh(a, user.refresh)
      t.equal(first.statusCode, 200)
      const retry = await refresh(b, user.refresh)
      t.same(retry.json(), first.json(), 'a retry on the other instance within the interval gets the same pair')
      await sleep(1100)
      const late = await refresh(b, user.refresh)
      t.equal(late.statusCode, 401)
      t.equal(late.json().error, 'token_revoked')
      for (const app of [a, b]) t.equal(await get(app, first.json().access_token), 401, 'the pair of the session stops')
      t.equal((await refresh(a, first.json().refresh_token)).json().error, 'token_revoked', 'and its refresh token')
      const other = await signUp(a)
      t.same((await a.inject({ method: 'GET', url: '/sessions', headers: bearer(other.access) })).json().sessions.length, 1)
    })

    await t.test('retries do not extend the interval', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '2' })
      const user = await signUp(a)
      const first = await refresh(a, user.refresh)
      t.equal(first.statusCode, 200)
      for (let i = 0; i < 3; i++) {
        await sleep(500)
        t.same((await refresh(i % 2 === 0 ? b : a, user.refresh)).json(), first.json(), `retry ${i + 1} within the interval`)
      }
      await sleep(700)
      t.equal((await refresh(b, user.refresh)).json().error, 'token_revoked', '2.2 s after the first spend: reuse, whatever the retries')
    })

    await t.test('spent, but its answer never stored (the minting instance failed): 503 refresh_pending within the interval, reuse after', async (t) => {
      const [a] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '1' })
      const user = await signUp(a)
      const claims = decode(user.refresh)
      // What an instance that stopped between the spend and storing the answer leaves behind.
      t.ok(await a.revocation.spendRefreshToken(claims.sub, claims.jti, claims.exp))
      const started = Date.now()
      const pending = await refresh(a, user.refresh)
      t.equal(pending.statusCode, 503)
      t.same(pending.json(), { statusCode: 503, error: 'refresh_pending', message: 'The first answer to this refresh token is not ready; try again shortly.' })
      t.ok(Date.now() - started >= 800, 'after waiting for it until the interval ends')
      t.equal((await refresh(a, user.refresh)).json().error, 'token_revoked', 'after the interval: reuse')
      t.equal(await get(a, user.access), 401, 'and the session ends')
    })

    await t.test('JWT_REFRESH_REUSE_INTERVAL=0: of concurrent refreshes with one token, exactly one 200', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '0' })
      const user = await signUp(a)
      const responses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, user.refresh)))
      const codes = responses.map((response) => response.statusCode)
      t.equal(codes.filter((code) => code === 200).length, 1, `one winner among ${codes.join(',')}`)
      t.equal(codes.filter((code) => code === 401).length, 19)
    })

    await t.test('the answer kept for retries is sealed, and kept only for the interval', async (t) => {
      const [a] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '1' })
      const user = await signUp(a)
      const pair = (await refresh(a, user.refresh)).json()
      const claims = decode(user.refresh)
      let stored: string[]
      if (store === 'redis') {
        const redis = redisClient(t)
        const keys = await redis.keys(`*{u:${claims.sub}}:a:${claims.jti}`)
        t.equal(keys.length, 1, 'the answer is in Redis')
        const ttl = await redis.pttl(keys[0])
        t.ok(ttl > 0 && ttl <= 1000, `with a TTL within the interval (${ttl} ms)`)
        stored = [String(await redis.get(keys[0]))]
      } else {
        stored = (await a.db.selectFrom('refresh_answers').select('sealed').execute()).map((row) => row.sealed)
        t.equal(stored.length, 1, 'the answer is in the database')
      }
      for (const token of [pair.access_token, pair.refresh_token]) {
        for (const part of token.split('.')) t.notOk(stored[0].includes(part), 'no part of the tokens is readable in the store')
      }
      await sleep(1300)
      if (store === 'redis') {
        t.same(await redisClient(t).keys(`*{u:${claims.sub}}:a:${claims.jti}`), [], 'gone from Redis after the interval')
      } else {
        t.same(await a.db.selectFrom('refresh_answers').select('key').execute(), [], 'gone from the database after the interval')
      }
    })
  })
})
