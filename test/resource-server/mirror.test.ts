import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { flaskClaims, forge, redisClient, requireRedis, SECRET, tempDir, TEST_REDIS_URL } from '../helpers'
import { call } from '../helpers/http-call'
import { startHost, type Host } from '../helpers/resource-host'
import { startRedisServer } from '../helpers/redis-server'
import { startServer } from '../helpers/server-process'

// The host's mirror (revocationMode: 'mirror') beside a built Gatehouse in its default, strict
// mode: Gatehouse publishes every revocation, the host answers checks from memory, and whenever its
// mirror is not loaded or its feed is lost it reads Redis, failing closed.
const PROPAGATION_BOUND_MS = 2000
const RECOVERY_BOUND_MS = 10_000
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function until (condition: () => Promise<boolean> | boolean, boundMs: number): Promise<{ met: boolean, ms: number }> {
  const started = Date.now()
  while (!await condition() && Date.now() - started < boundMs) await sleep(10)
  return { met: await condition(), ms: Date.now() - started }
}

const mirrorLoads = (host: Host): number => host.logLines().filter((line) => line.msg === 'revocation mirror: live').length

t.test('mirror mode: Gatehouse\'s revocations reach the host, which answers them from memory', async (t) => {
  if (!await requireRedis(t)) return
  const prefix = `gatehouse-rs-mirror-test:${randomUUID()}:`
  const gatehouse = await startServer(t, tempDir(t), {
    DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`, JWT_SECRET_KEY: SECRET, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix
  })
  const host = await startHost(t, { secret: SECRET, redisUrl: TEST_REDIS_URL, redisKeyPrefix: prefix, revocationMode: 'mirror' })
  t.equal(mirrorLoads(host), 1, 'the mirror is loaded before the host serves')

  const password = 'correct horse battery'
  t.equal((await call(gatehouse.url, '/register', { method: 'POST', body: { username: 'alice', password } })).status, 201)
  const logIn = async (): Promise<{ access_token: string }> => (await call(gatehouse.url, '/login', { method: 'POST', body: { username: 'alice', password } })).json
  const session = await logIn()
  t.equal((await host.get('/me', session.access_token)).statusCode, 200, 'a token from /login works')

  t.equal((await call(gatehouse.url, '/logout', { method: 'POST', token: session.access_token })).status, 200, 'logout at Gatehouse')
  const reached = await until(async () => (await host.get('/me', session.access_token)).statusCode !== 200, PROPAGATION_BOUND_MS)
  t.ok(reached.met, `the host refuses it (after ${reached.ms} ms)`)
  t.equal((await host.get('/me', session.access_token)).error, 'token_revoked')
  // Deleted from Redis, the revocation is still refused: the mirror's own copy answers.
  const redis = redisClient(t)
  const keys = (await redis.keys(`${prefix}{u:*`)).filter((key) => /\}:(t|s|u)(:|$)/.test(key.slice(prefix.length)))
  t.ok(keys.length > 0, 'the logout wrote its revocation keys')
  await redis.del(...keys)
  t.equal((await host.get('/me', session.access_token)).error, 'token_revoked', 'answered from the mirror')

  const everywhere = await logIn()
  const second = await logIn()
  t.equal((await host.get('/me', everywhere.access_token)).statusCode, 200, 'a new login works')
  t.equal((await call(gatehouse.url, '/logout/all', { method: 'POST', token: everywhere.access_token })).status, 200, 'logout everywhere')
  const cut = await until(async () => (await host.get('/me', second.access_token)).statusCode !== 200, PROPAGATION_BOUND_MS)
  t.ok(cut.met, `the cut-off reaches the host (after ${cut.ms} ms)`)
  t.equal((await host.get('/me', second.access_token)).error, 'token_revoked', 'every earlier token of the user is refused')
  t.equal((await host.get('/me', (await logIn()).access_token)).statusCode, 200, 'a login after the cut-off works')
})

t.test('mirror mode without Gatehouse\'s marker, and with Redis stopped: the host fails closed, then loads by itself', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  const host = await startHost(t, { secret: SECRET, redisUrl: redis.url, redisTimeoutMs: 200, revocationMode: 'mirror' })
  const token = forge(flaskClaims(7))
  t.equal(mirrorLoads(host), 0, 'no epoch marker: Redis may be missing revocations, so the mirror does not load')
  t.equal((await host.get('/me', token)).error, 'revocation_unavailable', 'and checks read Redis, which is not believed either')

  await redisClient(t, redis.url).set('gatehouse:epoch', 'restored')
  const loaded = await until(() => mirrorLoads(host) >= 1, RECOVERY_BOUND_MS)
  t.ok(loaded.met, `once Gatehouse's marker is there, the mirror loads by itself (after ${loaded.ms} ms)`)
  t.equal((await host.get('/me', token)).statusCode, 200, 'and answers')

  await redis.stop()
  const closed = await until(async () => (await host.get('/me', token)).statusCode !== 200, PROPAGATION_BOUND_MS)
  t.ok(closed.met, `Redis stopped: within the mirror's second of grace, checks stop being answered from memory (after ${closed.ms} ms)`)
  t.equal((await host.get('/me', token)).error, 'revocation_unavailable', 'they fail closed')
})
