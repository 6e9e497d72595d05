import { randomUUID } from 'node:crypto'
import { Cluster } from 'ioredis'
import t from 'tap'
import { buildApp } from '../../src/app'
import { bearer, buildTestApp, decode, signUp, testConfig } from '../helpers'
import { startRedisCluster } from '../helpers/redis-cluster'

// Upper bounds that only keep a broken build from hanging; nothing here measures speed.
const BOUND_MS = 10_000
// Longer than the longest reconnect delay of the app's Redis client (2 s).
const RECONNECT_WINDOW_MS = 3000

/** `promise`, or a rejection naming `what` once BOUND_MS have passed. */
async function within<T> (what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${BOUND_MS} ms`)) }, BOUND_MS)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

t.test('revocation against a real 3-master Redis Cluster', async (t) => {
  const nodes = await startRedisCluster(t)
  if (nodes === undefined) return
  const prefix = `gatehouse-cluster-test:${randomUUID()}:`
  // One seed node is enough: the client learns the others from it.
  const app = await buildTestApp(t, { env: { REDIS_CLUSTER_NODES: `127.0.0.1:${nodes[0].port}`, REDIS_KEY_PREFIX: prefix, JWT_REFRESH_REUSE_INTERVAL: '0' } })
  const inspect = new Cluster([{ host: '127.0.0.1', port: nodes[1].port }], { lazyConnect: true })
  t.teardown(() => { inspect.disconnect() })
  await inspect.connect()

  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'ready: the cluster answers')

  const users = []
  for (let i = 0; i < 6; i++) users.push(await signUp(app))

  // The users' keys must live on several masters, or this would not show that each check's MGET
  // stays within one slot while checks of many users run at once.
  const slots = await inspect.cluster('SLOTS')
  const portOfSlot = (slot: number): number | undefined => slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1]
  const masters = new Set<number | undefined>()
  for (const user of users) masters.add(portOfSlot(Number(await inspect.cluster('KEYSLOT', `${prefix}{u:${user.id}}:u`))))
  t.ok(masters.size >= 2, `the users' revocation keys sit on ${masters.size} masters`)

  const concurrent = await Promise.all(users.map(async (user) =>
    await app.inject({ method: 'GET', url: '/item/none', headers: bearer(user.access) })))
  t.same(concurrent.map((response) => response.json().error), users.map(() => 'not_found'),
    'tokens of users on different masters, checked at once, all pass the revocation check')

  const [leaving, deleted, refreshing, throttled] = users
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(leaving.access) })).statusCode, 200, 'logout')
  t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(leaving.access) })).json().error, 'token_revoked',
    'the logged-out access token is refused')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(leaving.refresh) })).json().error, 'token_revoked',
    'so is the refresh token of the same login')
  const sid = decode(leaving.access).sid
  t.ok(await inspect.ttl(`${prefix}{u:${leaving.id}}:s:${sid}`) > 0, 'the session revocation is a cluster key with a TTL')

  t.equal((await app.inject({ method: 'DELETE', url: `/user/${deleted.id}`, headers: bearer(deleted.access) })).statusCode, 200, 'delete user')
  t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(deleted.access) })).json().error, 'token_revoked',
    'the deleted user\'s access token is refused')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(deleted.refresh) })).json().error, 'token_revoked',
    'and the refresh token')

  const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(refreshing.refresh) })
  t.equal(refreshed.statusCode, 200, 'a refresh spends its token in the cluster')
  t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(refreshing.refresh) })).json().error, 'token_revoked',
    'presenting the spent refresh token again is refused')

  const wrong = await app.inject({ method: 'POST', url: '/login', payload: { username: throttled.username, password: 'not the password' } })
  t.equal(wrong.json().error, 'invalid_credentials', 'a failed login is counted in the cluster')

  t.same((await Promise.all(users.slice(4).map(async (user) =>
    await app.inject({ method: 'GET', url: '/item/none', headers: bearer(user.access) })))).map((response) => response.statusCode),
  [404, 404], 'the other users are unaffected')
})

t.test('the cluster down: protected requests fail closed with 503, and the app still closes cleanly', async (t) => {
  const nodes = await startRedisCluster(t)
  if (nodes === undefined) return
  const app = await buildApp(testConfig(t, {
    env: { REDIS_CLUSTER_NODES: nodes.map((node) => `127.0.0.1:${node.port}`).join(','), REDIS_KEY_PREFIX: `gatehouse-cluster-test:${randomUUID()}:` }
  }), { logger: false })
  // Registered after the nodes' teardowns, so it runs first; the client must not outlive the test.
  let closing: Promise<void> | undefined
  t.teardown(async () => {
    closing ??= app.close()
    await within('app.close() in teardown', closing).catch(() => {})
    app.redis.disconnect()
  })
  const user = await signUp(app)
  t.equal((await app.inject({ method: 'GET', url: '/item/none', headers: bearer(user.access) })).statusCode, 404, 'the token works')

  for (const node of nodes) await node.stop()
  const refused = await within('a protected request', app.inject({ method: 'GET', url: '/item/none', headers: bearer(user.access) }))
  t.equal(refused.statusCode, 503, 'a protected request is refused…')
  t.equal(refused.json().error, 'revocation_unavailable', '…as revocation_unavailable')
  t.equal((await within('/health/ready', app.inject({ method: 'GET', url: '/health/ready' }))).statusCode, 503, 'not ready')

  closing = app.close()
  t.equal(await within('app.close()', closing).then(() => 'resolved', (error: Error) => error.message), 'resolved', 'app.close() resolves')
  let attempts = 0
  app.redis.on('connecting', () => { attempts += 1 })
  await new Promise((resolve) => setTimeout(resolve, RECONNECT_WINDOW_MS))
  t.equal(attempts, 0, 'and the cluster client makes no connection attempt after it')
})
