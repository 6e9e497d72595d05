import t from 'tap'
import { buildTestApp, decode, forEachDatabase, forEachStore, redisClient, signUp } from '../helpers'
import { itemsStatus, refresh, sleep } from '../helpers/sessions'

// The first answer to a refresh token, kept for its retries until the reuse interval ends (one instance
// is enough here; two share it in refresh-retries.test.ts).
forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('spent, but its answer never stored (the minting instance failed): 503 refresh_pending within the interval, reuse after', async (t) => {
      const a = await buildTestApp(t, { database, store, env: { JWT_REFRESH_REUSE_INTERVAL: '1' } })
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
      t.equal(await itemsStatus(a, user.access), 401, 'and the session ends')
    })

    await t.test('the answer kept for retries is sealed, and kept only for the interval', async (t) => {
      const a = await buildTestApp(t, { database, store, env: { JWT_REFRESH_REUSE_INTERVAL: '1' } })
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
