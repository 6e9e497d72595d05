import { randomUUID } from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import Redis from 'ioredis'
import t from 'tap'
import type { App } from '../../src/app'
import { openStores } from '../../src/cli/stores'
import { nowSeconds, revocationMirror, STALE_AFTER_MS } from '../../src/revocation'
import { bearer, buildTestApp, decode, requireRedis, signUp, testConfig, testDatabaseUrl, TEST_REDIS_URL } from '../helpers'
import { requirePostgres } from '../helpers/postgres'
import { startRedisServer } from '../helpers/redis-server'
import { startSentinelGroup } from '../helpers/redis-sentinel'

// What the test allows a revocation to take to reach the other instance; measured in milliseconds.
const PROPAGATION_BOUND_MS = 2000
// Upper bound for a mirror to come back; only keeps a broken build from hanging.
const RECOVERY_BOUND_MS = 10_000
const POLL_MS = 10

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

const me = (user: { id: number }, token: string): InjectOptions => ({ method: 'GET', url: `/user/${user.id}`, headers: bearer(token) })
const refresh = (token: string): InjectOptions => ({ method: 'POST', url: '/refresh', headers: bearer(token) })
const status = (response: LightMyRequestResponse): string => `${response.statusCode} ${String(response.json().error ?? '')}`.trim()

/** Polls until `done` holds of the answer, or the bound passes; the last answer, and how long it took. */
async function until (app: App, request: InjectOptions, done: (response: LightMyRequestResponse) => boolean, boundMs: number) {
  const started = Date.now()
  let response = await app.inject(request)
  while (!done(response) && Date.now() - started < boundMs) {
    await sleep(POLL_MS)
    response = await app.inject(request)
  }
  return { response, ms: Date.now() - started }
}

async function untilTrue (condition: () => boolean, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs
  while (!condition() && Date.now() < deadline) await sleep(POLL_MS)
  return condition()
}

const isLive = (app: App): boolean => app.revocation.mirror?.live() === true

/** Two mirror-mode instances on one PostgreSQL database and one Redis (its URL, else the shared one). */
async function twoInstances (t: tap.Test, redisUrl?: string) {
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  const prefix = `gatehouse-mirror-test:${randomUUID()}:`
  const options = { store: 'redis' as const, databaseUrl, redisKeyPrefix: prefix, env: { REVOCATION_MODE: 'mirror', ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }) } }
  const a = await buildTestApp(t, options)
  const b = await buildTestApp(t, options)
  t.ok(isLive(a) && isLive(b), 'both mirrors are live once the instances have started')
  return { a, b, prefix, options }
}

t.test('the mirror answers as the store does', async (t) => {
  const mirror = revocationMirror()
  t.teardown(mirror.close)
  const later = nowSeconds() + 60
  const token = { sub: '7', jti: 'j1', sid: 's1', iat: nowSeconds() - 10, iat_ms: (nowSeconds() - 10) * 1000 }
  t.notOk(mirror.isRevoked(token), 'nothing revoked')
  mirror.apply('{u:7}:t:j1', 1, nowSeconds())
  t.notOk(mirror.isRevoked(token), 'an entry that has expired is not applied')
  mirror.apply('{u:7}:s:s1', 1, later)
  t.ok(mirror.isRevoked(token), 'revoked by its session')
  t.ok(mirror.isRevoked({ ...token, sid: undefined, jti: 's1' }), 'a token without sid stands for itself')
  t.notOk(mirror.isRevoked({ ...token, sid: 's2', jti: 'j2' }), 'another session of the user is not')
  mirror.apply('{u:7}:u', token.iat_ms - 1, later)
  t.notOk(mirror.isRevoked({ ...token, sid: 's2', jti: 'j2' }), 'a cut-off before the token does not revoke it')
  mirror.apply('{u:7}:u', token.iat_ms, later)
  t.ok(mirror.isRevoked({ ...token, sid: 's2', jti: 'j2' }), 'a cut-off at the token\'s issue does')
  mirror.apply('{u:7}:u', token.iat_ms - 5000, later + 60)
  t.ok(mirror.isRevoked({ ...token, sid: 's2', jti: 'j2' }), 'an earlier cut-off arriving later does not move it back')
  t.equal(mirror.size(), 2, 'one entry per key')
})

t.test('a logout on one instance reaches the other; the revoking instance honours it on its very next request', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const { a, b } = await twoInstances(t)
  const user = await signUp(a)
  t.equal((await b.inject(me(user, user.access))).statusCode, 200, 'the token works on the other instance')

  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200, 'logout on a')
  t.equal(status(await a.inject(me(user, user.access))), '401 token_revoked', 'a refuses the access token on its very next request')
  t.equal(status(await a.inject(refresh(user.refresh))), '401 token_revoked', 'and the refresh token')
  const reached = await until(b, me(user, user.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
  t.equal(status(reached.response), '401 token_revoked', `b refuses the access token (after ${reached.ms} ms)`)
  t.equal(status(await b.inject(refresh(user.refresh))), '401 token_revoked', 'and the refresh token')
  t.ok(isLive(b), 'answered from b\'s mirror')

  const other = await signUp(b)
  t.equal((await a.inject(me(other, other.access))).statusCode, 200, 'an unrevoked token still works on a')
  t.equal((await b.inject(me(other, other.access))).statusCode, 200, 'and on b')
})

t.test('a cut-off (logout everywhere, or the admin CLI) reaches the other instance', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const { a, b, options } = await twoInstances(t)
  const everywhere = await signUp(a)
  const byCli = await signUp(a)
  t.equal((await b.inject(me(everywhere, everywhere.access))).statusCode, 200, 'the token works on b')

  t.equal((await a.inject({ method: 'POST', url: '/logout/all', headers: bearer(everywhere.access) })).statusCode, 200, 'logout everywhere on a')
  t.equal(status(await a.inject(me(everywhere, everywhere.access))), '401 token_revoked', 'a refuses on its very next request')
  const reached = await until(b, me(everywhere, everywhere.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
  t.equal(status(reached.response), '401 token_revoked', `b refuses the access token (after ${reached.ms} ms)`)
  t.equal(status(await b.inject(refresh(everywhere.refresh))), '401 token_revoked', 'and the refresh token')

  // What `gatehouse user set-password` and `user delete` write, through the CLI's own stores.
  const stores = await openStores(testConfig(t, options), false)
  t.teardown(async () => { await stores.close() })
  await stores.revocation.revokeUser(String(byCli.id), Date.now(), nowSeconds() + 3600)
  for (const [name, app] of Object.entries({ a, b })) {
    const cut = await until(app, me(byCli, byCli.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
    t.equal(status(cut.response), '401 token_revoked', `${name} refuses a token cut off by the CLI (after ${cut.ms} ms)`)
  }
  const again = await signUp(b)
  t.equal((await a.inject(me(again, again.access))).statusCode, 200, 'a login after a cut-off works')
})

t.test('the feed lost: checks fall back to Redis, and the mirror reloads from the record when it is back', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined || !await requirePostgres(t)) return
  const { a, b, prefix } = await twoInstances(t, redis.url)
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => { admin.disconnect() })
  const user = await signUp(a)
  const kept = await signUp(a)
  t.equal((await b.inject(me(user, user.access))).statusCode, 200, 'the token works on b')

  // The subscribers cannot come back while no new connection is accepted; the other connections stay.
  const clients = Number(/connected_clients:(\d+)/.exec(await admin.info('clients'))?.[1])
  await admin.config('SET', 'maxclients', String(clients - 2))
  t.teardown(async () => { await admin.config('SET', 'maxclients', '10000').catch(() => {}) })
  const subscribers = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub') as string).split('\n').filter((line) => line.includes('name=gatehouse-revocation-feed'))
  t.equal(subscribers.length, 2, 'one feed connection per instance, named')
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  t.ok(await untilTrue(() => !isLive(a) && !isLive(b), STALE_AFTER_MS), 'neither mirror answers once its feed is gone')

  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200, 'logout on a while no mirror is fed')
  t.equal(status(await b.inject(me(user, user.access))), '401 token_revoked', 'b refuses the token at once: it reads Redis')
  t.equal(status(await b.inject(refresh(user.refresh))), '401 token_revoked', 'and the refresh token')
  t.equal(status(await a.inject(me(user, user.access))), '401 token_revoked', 'so does a')
  t.equal((await b.inject(me(kept, kept.access))).statusCode, 200, 'an unrevoked token works on b meanwhile')
  t.notOk(isLive(b), 'b\'s mirror was not live throughout')

  await admin.config('SET', 'maxclients', '10000')
  t.ok(await untilTrue(() => isLive(a) && isLive(b), RECOVERY_BOUND_MS), 'both mirrors are live again once their feed is back')
  // Redis losing the keys now leaves the mirror's word alone: b refuses from what it loaded from
  // the record, having never received the message.
  const sid = decode(user.access).sid
  await admin.del(`${prefix}{u:${user.id}}:t:${String(decode(user.access).jti)}`, `${prefix}{u:${user.id}}:s:${String(sid)}`)
  t.equal(status(await b.inject(me(user, user.access))), '401 token_revoked', 'b refuses the token from its mirror')
  t.equal(status(await b.inject(refresh(user.refresh))), '401 token_revoked', 'and the refresh token')
  t.equal((await b.inject(me(kept, kept.access))).statusCode, 200, 'the unrevoked token works')
})

t.test('Redis unreachable or silent: protected requests answer 503, never 200', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined || !await requirePostgres(t)) return
  const { a } = await twoInstances(t, redis.url)
  const user = await signUp(a)
  const loggedOut = await signUp(a)
  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(loggedOut.access) })).statusCode, 200, 'a logout')
  t.equal((await a.inject(me(user, user.access))).statusCode, 200, 'the token works')

  async function assertFailsClosed (what: string): Promise<void> {
    t.ok(await untilTrue(() => !isLive(a), STALE_AFTER_MS + 500), `${what}: within ${STALE_AFTER_MS} ms the mirror stops answering`)
    const answers = new Set<string>()
    const until = Date.now() + 1000
    while (Date.now() < until) {
      for (const token of [user.access, loggedOut.access]) answers.add(status(await a.inject(me(user, token))))
    }
    t.same([...answers], ['503 revocation_unavailable'], `${what}: every check answers 503 revocation_unavailable`)
  }

  // A server that stops answering while its connections stay open: only the heartbeat can tell.
  redis.signal('SIGSTOP')
  t.teardown(() => { redis.signal('SIGCONT') })
  await assertFailsClosed('Redis silent')
  redis.signal('SIGCONT')
  const resumed = await until(a, me(user, user.access), (response) => response.statusCode === 200, RECOVERY_BOUND_MS)
  t.equal(resumed.response.statusCode, 200, 'the token works again once Redis answers')
  t.ok(await untilTrue(() => isLive(a), RECOVERY_BOUND_MS), 'and the mirror is live again')

  // A server that is gone: its connections close. (Last: when it is back, Redis is restored from
  // the record, and until then checks are answered from the record, not 503.)
  await redis.stop()
  await assertFailsClosed('Redis stopped')
  await redis.start()
  const back = await until(a, me(user, user.access), (response) => response.statusCode === 200, RECOVERY_BOUND_MS)
  t.equal(back.response.statusCode, 200, 'the token works again once Redis is back')
  t.ok(await untilTrue(() => isLive(a), RECOVERY_BOUND_MS), 'and the mirror is live again')
  t.equal(status(await a.inject(me(user, loggedOut.access))), '401 token_revoked', 'reloaded from the record: the logout still holds')
})

t.test('with Sentinel: the feed follows the master through a failover', async (t) => {
  const group = await startSentinelGroup(t)
  if (group === undefined || !await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  // Not `store: 'redis'`, which would set REDIS_URL as well.
  const env = { REDIS_SENTINELS: group.sentinels, REDIS_SENTINEL_NAME: group.name, REDIS_KEY_PREFIX: `gatehouse-mirror-test:${randomUUID()}:`, REVOCATION_MODE: 'mirror' }
  const a = await buildTestApp(t, { databaseUrl, env })
  const b = await buildTestApp(t, { databaseUrl, env })
  t.ok(isLive(a) && isLive(b), 'both mirrors are live, fed through the master the sentinels name')
  const [before, after, kept] = [await signUp(a), await signUp(a), await signUp(b)]
  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(before.access) })).statusCode, 200, 'a logout before the failover')
  const reached = await until(b, me(before, before.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
  t.equal(status(reached.response), '401 token_revoked', `it reaches b (after ${reached.ms} ms)`)

  await group.master.stop()
  for (const [name, app] of Object.entries({ a, b })) {
    const back = await until(app, me(kept, kept.access), (response) => response.statusCode === 200, 30_000)
    t.equal(back.response.statusCode, 200, `${name} serves valid tokens again on the new master`)
    t.ok(await untilTrue(() => isLive(app), RECOVERY_BOUND_MS), `${name}'s mirror is live again`)
  }
  t.equal((await b.inject({ method: 'POST', url: '/logout', headers: bearer(after.access) })).statusCode, 200, 'a logout after the failover')
  const afterwards = await until(a, me(after, after.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
  t.equal(status(afterwards.response), '401 token_revoked', `it reaches a through the new master (after ${afterwards.ms} ms)`)
  for (const [name, app] of Object.entries({ a, b })) {
    t.equal(status(await app.inject(me(before, before.access))), '401 token_revoked', `${name}: the logout before the failover still holds`)
  }
})

t.test('strict mode stays the default: checks read Redis, there is no mirror', async (t) => {
  if (!await requireRedis(t)) return
  const app = await buildTestApp(t, { store: 'redis' })
  t.equal(app.revocation.mirror, undefined)
})

t.test('a strict instance publishes its revocations too: a rolling switch to mirror misses none', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  const prefix = `gatehouse-mirror-test:${randomUUID()}:`
  const strict = await buildTestApp(t, { store: 'redis', databaseUrl, redisKeyPrefix: prefix })
  const mirrored = await buildTestApp(t, { store: 'redis', databaseUrl, redisKeyPrefix: prefix, env: { REVOCATION_MODE: 'mirror' } })
  t.ok(isLive(mirrored), 'the mirror instance is live')
  const user = await signUp(strict)
  t.equal((await mirrored.inject(me(user, user.access))).statusCode, 200, 'the token works on the mirror instance')

  t.equal((await strict.inject({ method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200, 'logout on the strict instance')
  const reached = await until(mirrored, me(user, user.access), (response) => response.statusCode !== 200, PROPAGATION_BOUND_MS)
  t.equal(status(reached.response), '401 token_revoked', `the mirror instance refuses it (after ${reached.ms} ms)`)
  // Gone from Redis, the revocation is still refused: the mirror's own copy, which only the feed gave it.
  const redis = new Redis(TEST_REDIS_URL)
  t.teardown(() => { redis.disconnect() })
  const keys = await redis.keys(`${prefix}{u:${user.id}}:*`)
  if (keys.length > 0) await redis.del(...keys)
  t.ok(isLive(mirrored), 'the mirror is live')
  t.equal(status(await mirrored.inject(me(user, user.access))), '401 token_revoked', 'answered from the mirror, fed by the strict instance')
})
