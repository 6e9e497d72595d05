import t from 'tap'
import { cli } from '../helpers/cli-process'
import { bearer, buildTestApp, requireRedis, signUp, TEST_REDIS_URL, testDatabaseUrl, uniqueName } from '../helpers'

type Test = tap.Test

t.test('revoke-sessions with Redis: the same keys the service reads', async (t: Test) => {
  if (!await requireRedis(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const redisKeyPrefix = `gatehouse-test:${uniqueName()}:`
  const app = await buildTestApp(t, { databaseUrl, store: 'redis', redisKeyPrefix })
  const user = await signUp(app)
  const run = await cli({ DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redisKeyPrefix }, ['user', 'revoke-sessions', user.username])
  t.equal(run.code, 0, run.stderr)
  const answer = await app.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })
  t.equal(answer.json().error, 'token_revoked')
})
