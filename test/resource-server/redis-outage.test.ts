import t from 'tap'
import { flaskClaims, forge, redisClient, SECRET } from '../helpers'
import { startHost } from '../helpers/resource-host'
import { startRedisServer } from '../helpers/redis-server'

// A private redis-server, stopped and started under the host: the revocation check fails closed
// while Redis is away and works again, by itself, once it is back.
t.test('Redis stopped: protected routes answer 503 revocation_unavailable, and recover by themselves', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  // Gatehouse's epoch marker: Redis holds every revocation of its record (written by its loss watch).
  const markRestored = async (): Promise<void> => { await redisClient(t, redis.url).set('gatehouse:epoch', 'restored') }
  await markRestored()
  const host = await startHost(t, { secret: SECRET, redisUrl: redis.url, redisTimeoutMs: 200 })
  const token = forge(flaskClaims(7, { fresh: true, is_admin: true }))
  t.equal((await host.get('/me', token)).statusCode, 200)

  await redis.stop()
  const started = Date.now()
  const down = await host.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(down.json(), {
    statusCode: 503, error: 'revocation_unavailable', message: 'The token revocation store is unavailable; try again shortly.'
  }, 'fails closed, in Gatehouse\'s words')
  t.equal(down.headers['retry-after'], '1')
  t.ok(Date.now() - started < 2000, 'within about the Redis timeout, not hanging')
  for (const path of ['/fresh', '/admin', '/maybe']) t.equal((await host.get(path, token)).error, 'revocation_unavailable', path)
  t.same((await host.get('/maybe')).body, { sub: null }, 'an anonymous request needs no store')
  t.same((await host.get('/open')).body, { open: true }, 'the host\'s unprotected routes are untouched')
  t.equal((await host.get('/me', forge(flaskClaims(7), { secret: 'z'.repeat(64) }))).error, 'invalid_token', 'a forged token is refused without the store')

  // Back empty (SIGKILL, nothing saved): its revocations are lost until Gatehouse restores them.
  await redis.start()
  const reconnected = (): boolean => host.logLines().filter((line) => line.msg === 'redis connected').length >= 2
  for (const deadline = Date.now() + 10_000; !reconnected() && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok(reconnected(), 'the client reconnects by itself')
  t.equal((await host.get('/me', token)).error, 'revocation_unavailable', 'an empty Redis without Gatehouse\'s marker is not believed')
  await markRestored()
  const deadline = Date.now() + 10_000
  let status = 0
  while (Date.now() < deadline) {
    status = (await host.get('/me', token)).statusCode
    if (status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'service resumes without a restart once Gatehouse has restored Redis')
  t.ok(host.logLines().some((line) => line.msg === 'redis connection lost'), 'the outage is logged')
})

t.test('the plugin does not start without Redis, nor with options that cannot work', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  await redis.stop()
  await t.rejects(startHost(t, { secret: SECRET, redisUrl: redis.url }), /Redis at redis:\/\/127\.0\.0\.1:\d+ did not answer/)
  await t.rejects(startHost(t, { secret: SECRET }), /redisUrl, redisClusterNodes, redisSentinels: give exactly one/)
  await t.rejects(startHost(t, { redisUrl: redis.url }), /secret, jwksUrl: give one of them/)
  await t.rejects(startHost(t, { secret: 'short', redisUrl: redis.url }), /secret: Expected string length greater or equal to 32/)
  await t.rejects(startHost(t, { secret: SECRET, redisUrl: redis.url, redisKeyPrefix: '{x}' }), /redisKeyPrefix/)
  await t.rejects(startHost(t, { secret: SECRET, redisSentinels: '127.0.0.1:26379' }), /redisSentinels, redisSentinelName: give both or neither/)
})
