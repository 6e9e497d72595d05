import { connect, createServer, type Socket } from 'node:net'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { buildApp, type App } from '../../src/app'
import { bearer, buildTestApp, logIn, signUp, testConfig } from '../helpers'
import { freePort, startRedisServer } from '../helpers/redis-server'

// Upper bounds that only keep a broken build from hanging; nothing here measures speed.
const BOUND_MS = 10_000
const POLL_MS = 100
// Longer than the longest reconnect delay of the app's Redis client (2 s).
const RECONNECT_WINDOW_MS = 3000

/** `promise`, or a rejection naming `what` once `ms` have passed. */
async function within<T> (ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: no answer within ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function call (app: App, options: InjectOptions): Promise<LightMyRequestResponse> {
  return await within(BOUND_MS, `${String(options.method)} ${String(options.url)}`, app.inject(options))
}

/** Asserts the fail-closed answer: 503 and the documented JSON body, nothing more. */
function assertUnavailable (t: tap.Test, response: LightMyRequestResponse, what: string): void {
  t.equal(response.statusCode, 503, `${what}: 503`)
  t.match(response.headers['content-type'], /^application\/json/, `${what}: JSON`)
  const body = response.json()
  t.same(body, { statusCode: 503, error: 'revocation_unavailable', message: body.message }, `${what}: revocation_unavailable body`)
  t.match(body.message, /\S/, `${what}: with a message`)
  t.notOk(response.headers['www-authenticate'], `${what}: no WWW-Authenticate, it is not an authentication failure`)
}

t.test('Redis down: protected requests fail closed with 503, anonymous ones are served, service resumes when it is back', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  // Built after the server, so it is closed before the server is killed (teardowns run last in, first out).
  const app = await buildTestApp(t, { store: 'redis', env: { REDIS_URL: redis.url } })
  const user = await signUp(app)

  // While Redis answers.
  const created = await call(app, { method: 'POST', url: '/item/widget', headers: bearer(user.access), payload: { price: 12.5 } })
  t.equal(created.statusCode, 201, 'a fresh token creates an item')
  const item = await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })
  t.equal(item.statusCode, 200)
  t.match(item.json(), { name: 'widget', price: 12.5 })
  t.equal((await call(app, { method: 'GET', url: '/item/nothing-here', headers: bearer(user.access) })).json().error, 'not_found')
  const refreshed = await call(app, { method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
  t.equal(refreshed.statusCode, 200, 'refresh works')
  // Rotation spent user.refresh; the new one is the session's refresh token from now on.
  const refreshToken: string = refreshed.json().refresh_token
  const readyBefore = await call(app, { method: 'GET', url: '/health/ready' })
  t.equal(readyBefore.statusCode, 200)
  t.same(readyBefore.json(), { status: 'ok', checks: { database: 'ok', revocation: 'ok' } })

  await redis.stop()

  // Each of these resolving at all (within the bound) is the point: no request waits on the dead connection.
  assertUnavailable(t, await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) }), 'GET /item/widget')
  assertUnavailable(t, await call(app, { method: 'POST', url: '/refresh', headers: bearer(refreshToken) }), 'POST /refresh')
  assertUnavailable(t, await call(app, { method: 'GET', url: '/items', headers: bearer(user.access) }),
    'GET /items with a token (an optional route still checks a present token)')
  assertUnavailable(t, await call(app, { method: 'PUT', url: '/item/widget', headers: bearer(user.access), payload: { price: 1 } }), 'PUT /item/widget')
  assertUnavailable(t, await call(app, { method: 'POST', url: '/logout', headers: bearer(user.access) }), 'POST /logout')

  const anonymous = await call(app, { method: 'GET', url: '/items' })
  t.equal(anonymous.statusCode, 200, 'anonymous GET /items is still served')
  t.same(anonymous.json().items, ['widget'], 'with the item names')
  t.match(anonymous.json().message, /log in/)

  const noToken = await call(app, { method: 'GET', url: '/item/widget' })
  t.equal(noToken.statusCode, 401, 'a request without a token is still told so')
  t.equal(noToken.json().error, 'authorization_required')

  const ready = await call(app, { method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503, '/health/ready says not ready')
  t.same(ready.json(), {
    statusCode: 503, error: 'not_ready', message: ready.json().message, checks: { database: 'ok', revocation: 'failing' }
  })
  const live = await call(app, { method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200, '/health/live still answers')
  t.same(live.json(), { status: 'ok' })

  // Login reads its failure counts from the same store: it fails closed too, so an outage is no
  // window for guessing passwords unthrottled.
  assertUnavailable(t, await call(app, { method: 'POST', url: '/login', payload: { username: user.username, password: user.password } }),
    'a login during the outage')

  await redis.start()

  // The client reconnects by itself (retry delays up to 2 s); poll, bounded.
  const deadline = Date.now() + BOUND_MS
  let last = await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })
  while (last.statusCode !== 200 && Date.now() < deadline) {
    await sleep(POLL_MS)
    last = await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })
  }
  t.equal(last.statusCode, 200, `the token works again once Redis is back (last answer: ${last.body})`)
  t.match(last.json(), { name: 'widget', price: 12.5 })

  const readyAfter = await call(app, { method: 'GET', url: '/health/ready' })
  t.equal(readyAfter.statusCode, 200, '/health/ready is ready again')
  t.same(readyAfter.json(), { status: 'ok', checks: { database: 'ok', revocation: 'ok' } })
  t.equal((await call(app, { method: 'POST', url: '/refresh', headers: bearer(refreshToken) })).statusCode, 200, 'refresh works again')
  const full = await call(app, { method: 'GET', url: '/items', headers: bearer(user.access) })
  t.equal(full.statusCode, 200)
  t.match(full.json(), { items: [{ name: 'widget', price: 12.5 }] })

  // Writes reach the restarted (empty) Redis: a logout takes effect.
  const during = await logIn(app, user.username, user.password)
  t.equal((await call(app, { method: 'POST', url: '/logout', headers: bearer(during.access) })).statusCode, 200, 'logout works again')
  const revoked = await call(app, { method: 'GET', url: '/item/widget', headers: bearer(during.access) })
  t.equal(revoked.statusCode, 401)
  t.equal(revoked.json().error, 'token_revoked')
  t.equal((await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })).statusCode, 200,
    'the other session is unaffected')
})

t.test('the app refuses to start when Redis does not answer', async (t) => {
  async function refuses (url: string, what: string): Promise<void> {
    const building = buildApp(testConfig(t, { store: 'redis', env: { REDIS_URL: url } }), { logger: false })
    // Should it start after all, close it rather than leak it.
    building.then(async (app) => { await app.close() }, () => {})
    const host = url.replace(/^redis:\/\//, '').replace(/\./g, '\\.')
    await t.rejects(within(BOUND_MS, `buildApp with ${what}`, building),
      new RegExp(`^Redis at redis://${host} did not answer`), `${what}: buildApp rejects, naming Redis`)
  }

  await refuses(`redis://127.0.0.1:${await freePort()}`, 'nothing listening on the port')

  // Something accepts connections but never answers: the connect timeout ends the wait.
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
  })
  await new Promise<void>((resolve) => { silent.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => { silent.close(resolve) })
  })
  const address = silent.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  await refuses(`redis://127.0.0.1:${address.port}`, 'a listener that never answers')
})

t.test('app.close() neither rejects nor hangs while Redis is down', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  const app = await buildApp(testConfig(t, { store: 'redis', env: { REDIS_URL: redis.url } }), { logger: false })
  // Registered after the server's teardown, so it runs before it. Whatever close() did, the client
  // must not keep reconnecting after the test, or the test process would never exit.
  let closing: Promise<void> | undefined
  t.teardown(async () => {
    closing ??= app.close()
    await within(BOUND_MS, 'app.close() in teardown', closing).catch(() => {})
    app.redis.disconnect()
  })

  const user = await signUp(app)
  t.equal((await call(app, { method: 'GET', url: '/item/x', headers: bearer(user.access) })).statusCode, 404, 'the token works')
  await redis.stop()
  assertUnavailable(t, await call(app, { method: 'GET', url: '/item/x', headers: bearer(user.access) }), 'with Redis down')

  closing = app.close()
  const outcome = await within(BOUND_MS, 'app.close() with Redis down', closing)
    .then(() => 'resolved', (error: Error) => `rejected: ${error.message}`)
  t.equal(outcome, 'resolved', 'app.close() resolves')
  await t.rejects(app.db.selectFrom('items').select('id').execute(), 'the database is closed too')

  // The Redis client is shut down, not left retrying (its timers would keep the process alive):
  // over longer than its longest retry delay (2 s) it makes no connection attempt.
  let attempts = 0
  app.redis.on('connecting', () => { attempts += 1 })
  await sleep(RECONNECT_WINDOW_MS)
  t.equal(attempts, 0, 'the Redis client makes no connection attempt after close')
})

t.test('a first connection to Redis closed during the handshake is retried: the app starts', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  const [host, port] = redis.url.replace(/^redis:\/\//, '').split(':')
  // Closes the first connection it accepts, as a server restarting (or a proxy failing over) would;
  // relays every later one to Redis.
  let accepted = 0
  const sockets = new Set<Socket>()
  const flaky = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    if (++accepted === 1) { socket.destroy(); return }
    const upstream = connect(Number(port), host)
    upstream.on('error', () => {})
    socket.pipe(upstream).pipe(socket)
    socket.on('close', () => { upstream.destroy() })
  })
  await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => flaky.close(resolve))
  })
  const url = `redis://127.0.0.1:${(flaky.address() as { port: number }).port}`
  const app = await within(BOUND_MS, 'buildApp through the flaky relay', buildApp(testConfig(t, { store: 'redis', env: { REDIS_URL: url } }), { logger: false }))
  t.teardown(async () => { await app.close() })
  t.ok(accepted >= 2, 'the first connection was closed, and the client connected again')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'and the app serves, Redis answering')
})
