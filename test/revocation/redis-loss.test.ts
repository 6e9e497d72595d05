import { randomUUID } from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import Redis from 'ioredis'
import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, decode, redisClient, requireRedis, signUp, testDatabaseUrl } from '../helpers'
import { requirePostgres } from '../helpers/postgres'
import { startRedisServer } from '../helpers/redis-server'
import { traffic, type Answer } from '../helpers/traffic'

// What the issue asks of every answer while Redis is lost and restored.
const ANSWER_WITHIN_MS = 2000
// Upper bound for the service to come back; only keeps a broken build from hanging.
const RECOVERY_BOUND_MS = 15_000
const POLL_MS = 100

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function call (app: App, request: InjectOptions): Promise<LightMyRequestResponse> {
  return await app.inject(request)
}

const me = (user: { id: number }, token: string): InjectOptions => ({ method: 'GET', url: `/user/${user.id}`, headers: bearer(token) })
const refresh = (token: string): InjectOptions => ({ method: 'POST', url: '/refresh', headers: bearer(token) })

/**
 * Two instances on one PostgreSQL database and one private Redis, and users in every state a loss
 * must not change: logged out, logged out everywhere, with a spent refresh token, and untouched.
 */
async function twoInstances (t: tap.Test) {
  const redis = await startRedisServer(t)
  if (redis === undefined || !await requirePostgres(t)) return undefined
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  const prefix = `gatehouse-loss-test:${randomUUID()}:`
  // Reuse interval 0: a spent refresh token presented again is reuse at once, whose detection must survive the loss.
  const options = { store: 'redis' as const, databaseUrl, redisKeyPrefix: prefix, env: { REDIS_URL: redis.url, JWT_REFRESH_REUSE_INTERVAL: '0' } }
  const a = await buildTestApp(t, options)
  const b = await buildTestApp(t, options)

  const [loggedOut, everywhere, rotating, untouched, lastMoment] = [await signUp(a), await signUp(b), await signUp(a), await signUp(b), await signUp(a)]
  t.equal((await call(a, { method: 'POST', url: '/logout', headers: bearer(loggedOut.access) })).statusCode, 200, 'logout on instance a')
  t.equal((await call(b, { method: 'POST', url: '/logout/all', headers: bearer(everywhere.access) })).statusCode, 200, 'logout everywhere on instance b')
  const rotated = await call(a, refresh(rotating.refresh))
  t.equal(rotated.statusCode, 200, 'a refresh on instance a spends the refresh token')
  const rotatedRefresh: string = rotated.json().refresh_token
  t.equal((await call(b, me(untouched, untouched.access))).statusCode, 200, 'an untouched token works')

  const revokedAccess = { loggedOut: loggedOut.access, everywhere: everywhere.access }
  for (const [name, token] of Object.entries(revokedAccess)) {
    t.equal((await call(a, me({ id: decode(token).sub }, token))).json().error, 'token_revoked', `${name}: refused before the loss`)
  }
  return { redis, prefix, a, b, users: { loggedOut, everywhere, rotating, untouched, lastMoment }, rotatedRefresh }
}

type Setup = NonNullable<Awaited<ReturnType<typeof twoInstances>>>

const LAST_MOMENT = 'logged out just before the loss'

/** The stream both tests run: an untouched token and every revoked one, on both instances. */
function probes ({ users }: Setup) {
  return [
    { name: 'untouched', request: me(users.untouched, users.untouched.access) },
    { name: 'logged out', request: me(users.loggedOut, users.loggedOut.access) },
    { name: 'logged out everywhere', request: me(users.everywhere, users.everywhere.access) },
    { name: LAST_MOMENT, request: me(users.lastMoment, users.lastMoment.access) },
    { name: 'refresh of a logged-out session', request: refresh(users.loggedOut.refresh) }
  ]
}

async function untilWorks (app: App, request: InjectOptions): Promise<number> {
  const deadline = Date.now() + RECOVERY_BOUND_MS
  let status = 0
  while (Date.now() < deadline) {
    status = (await call(app, request)).statusCode
    if (status === 200) return status
    await sleep(POLL_MS)
  }
  return status
}

/** What must hold of every answer of the stream, and of every token once Redis is restored. */
async function assertNothingLost (t: tap.Test, setup: Setup, all: Answer[], lastRevokedAt: number): Promise<void> {
  const { a, b, users, rotatedRefresh } = setup
  t.ok(all.length > 50, `the stream sent ${all.length} requests`)
  // The last user's token was valid until its logout was acknowledged.
  const answers = all.filter((answer) => answer.probe !== LAST_MOMENT || answer.at >= lastRevokedAt)
  const revokedOk = answers.filter((answer) => answer.probe !== 'untouched' && answer.status === 200)
  t.same(revokedOk, [], 'no revoked token was ever accepted, on either instance')
  const revokedStatuses = new Set(answers.filter((answer) => answer.probe !== 'untouched').map((answer) => `${answer.status} ${answer.error}`))
  t.same([...revokedStatuses].filter((status) => status !== '401 token_revoked' && status !== '503 revocation_unavailable'), [],
    'revoked tokens were answered 401 token_revoked or 503 revocation_unavailable, nothing else')
  const slowest = answers.reduce((max, answer) => Math.max(max, answer.ms), 0)
  t.ok(slowest < ANSWER_WITHIN_MS, `every request answered within ${ANSWER_WITHIN_MS} ms (slowest ${slowest} ms)`)

  for (const [name, app] of Object.entries({ a, b })) {
    t.equal(await untilWorks(app, me(users.untouched, users.untouched.access)), 200, `${name}: the untouched access token works again`)
    for (const [what, user] of Object.entries({ loggedOut: users.loggedOut, everywhere: users.everywhere, lastMoment: users.lastMoment })) {
      const response = await call(app, me(user, user.access))
      t.equal(response.json().error, 'token_revoked', `${name}: ${what}: the access token revoked before the loss is still refused`)
      t.equal((await call(app, refresh(user.refresh))).json().error, 'token_revoked', `${name}: ${what}: and its refresh token`)
    }
  }
  // The refresh token rotated before the loss works (and is spent now); the one spent before is
  // refused on both instances, as a reuse.
  t.equal((await call(b, refresh(rotatedRefresh))).statusCode, 200, 'an unspent refresh token works after the loss')
  t.equal((await call(a, refresh(users.rotating.refresh))).json().error, 'token_revoked', 'a: the refresh token spent before the loss is refused')
  t.equal((await call(b, refresh(users.rotating.refresh))).json().error, 'token_revoked', 'b: and on the other instance')
  t.equal((await call(a, refresh(rotatedRefresh))).json().error, 'token_revoked', 'the reuse ended the session')
}

t.test('Redis killed and restarted empty while two instances serve requests: every revocation survives', async (t) => {
  const setup = await twoInstances(t)
  if (setup === undefined) return
  const { redis, a, b, users } = setup
  const stream = traffic({ a, b }, probes(setup))
  await sleep(300)

  // Acknowledged, then Redis dies at once: the revocation must survive although Redis never saved it.
  t.equal((await call(b, { method: 'POST', url: '/logout', headers: bearer(users.lastMoment.access) })).statusCode, 200, 'logout just before the kill')
  const lastRevokedAt = Date.now()
  await redis.stop()
  const killedAt = Date.now()
  await sleep(700)
  await redis.start()
  const restartedAt = Date.now()

  for (const [name, app] of Object.entries({ a, b })) {
    t.equal(await untilWorks(app, me(users.untouched, users.untouched.access)), 200, `${name} serves valid tokens again`)
  }
  await sleep(300)
  const answers = await stream.stop()
  const during = answers.filter((answer) => answer.at >= killedAt && answer.at < restartedAt)
  t.ok(during.some((answer) => answer.status === 503), 'requests while Redis was down were refused with 503')
  t.same(during.filter((answer) => answer.status !== 503 && answer.status !== 401).map((answer) => `${answer.probe}: ${answer.status}`), [],
    'while Redis was down: 503, or 401 for a revoked refresh token (its spend is in the database)')
  await assertNothingLost(t, setup, answers, lastRevokedAt)
})

t.test('FLUSHALL during traffic: every revocation survives, and valid tokens keep working', async (t) => {
  const setup = await twoInstances(t)
  if (setup === undefined) return
  const { redis, prefix, a, b, users } = setup
  const inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { inspect.disconnect() })

  const stream = traffic({ a, b }, probes(setup))
  await sleep(300)
  t.equal((await call(b, { method: 'POST', url: '/logout', headers: bearer(users.lastMoment.access) })).statusCode, 200, 'logout just before the flush')
  const flushedAt = Date.now()
  await inspect.flushall()
  await sleep(1500)
  const answers = await stream.stop()

  const untouched = answers.filter((answer) => answer.probe === 'untouched' && answer.at >= flushedAt)
  t.ok(untouched.length > 0, 'the untouched token was checked after the flush')
  t.same(untouched.filter((answer) => answer.status !== 200).map((answer) => `${answer.instance}: ${answer.status} ${answer.error}`), [],
    'the untouched token kept working: while Redis was restored, checks were answered from the database')
  await assertNothingLost(t, setup, answers, flushedAt)

  const sid = decode(users.loggedOut.access).sid
  t.ok(await inspect.ttl(`${prefix}{u:${users.loggedOut.id}}:s:${sid}`) > 0, 'the revoked session is back in Redis, with a TTL')
  t.ok(await inspect.get(`${prefix}{u:${users.everywhere.id}}:u`), 'and the cut-off')
  t.ok(await inspect.get(`${prefix}epoch`), 'and an epoch marker')
})

t.test('a cut-off never moves back: an older one written later (another instance, a repair) keeps the later', async (t) => {
  if (!await requireRedis(t)) return
  const prefix = `gatehouse-loss-test:${randomUUID()}:`
  const app = await buildTestApp(t, { store: 'redis', redisKeyPrefix: prefix })
  const inspect = redisClient(t)
  const user = await signUp(app)
  const expiresAt = Math.floor(Date.now() / 1000) + 3600
  const later = Date.now() + 60_000
  await app.revocation.revokeUser(String(user.id), later, expiresAt)
  await app.revocation.revokeUser(String(user.id), later - 30_000, expiresAt)
  t.equal(Number(await inspect.get(`${prefix}{u:${user.id}}:u`)), later, 'Redis keeps the later cut-off')
  const row = await app.db.selectFrom('revocations').select('value').where('key', '=', `{u:${user.id}}:u`).executeTakeFirstOrThrow()
  t.equal(Number(row.value), later, 'and so does the database')
})
