import { randomUUID } from 'node:crypto'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import SQLite from 'better-sqlite3'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { Client } from 'pg'
import { buildApp, type App } from '../../src/app'
import { bearer, buildTestApp, requireRedis, signUp, testConfig, testDatabaseUrl, uniqueName } from '../helpers'
import { adminQuery, databaseName, requirePostgres } from '../helpers/postgres'
import { startTcpProxy } from '../helpers/tcp-proxy'

type Test = tap.Test

// Upper bounds that only keep a broken build from hanging; nothing here measures speed.
const BOUND_MS = 10_000
// What the apps that lose their database wait for it: short, so the outage answers come quickly.
const TIMEOUT_MS = '1000'

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

const UNAVAILABLE = { statusCode: 503, error: 'database_unavailable', message: 'The database is unavailable; try again shortly.' }

/** Asserts the outage answer: 503 and exactly the documented JSON body. */
function assertUnavailable (t: Test, response: LightMyRequestResponse, what: string): void {
  t.equal(response.statusCode, 503, `${what}: 503`)
  t.match(response.headers['content-type'], /^application\/json/, `${what}: JSON`)
  t.strictSame(response.json(), UNAVAILABLE, `${what}: database_unavailable`)
}

/** Ends every connection to the database named `database`; how many there were. */
async function terminateConnections (database: string): Promise<number> {
  const rows = await adminQuery(
    'select pg_terminate_backend(pid) as terminated from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database])
  return rows.filter((row) => row.terminated === true).length
}

t.test('PostgreSQL connections killed mid-run: 503 database_unavailable or success, never 500; the next requests succeed by themselves', async (t) => {
  if (!await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  // Registrations are the write load here, many from one address: not what this test throttles.
  const app = await buildTestApp(t, { databaseUrl, env: { REGISTER_MAX_PER_ADDRESS: '1000000' } })
  const user = await signUp(app)
  t.equal((await call(app, { method: 'PUT', url: '/item/lamp', headers: bearer(user.access), payload: { price: 3 } })).statusCode, 201)

  // A steady load of reads and writes, each going through the database, while its connections are
  // killed again and again.
  const requests = (): InjectOptions[] => [
    { method: 'GET', url: '/item/lamp', headers: bearer(user.access) },
    { method: 'GET', url: '/items', headers: bearer(user.access) },
    { method: 'PUT', url: '/item/lamp', headers: bearer(user.access), payload: { price: 4 } },
    { method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' } }
  ]
  const answers: LightMyRequestResponse[] = []
  let running = true
  const load = Promise.all(Array.from({ length: 8 }, async () => {
    while (running) {
      for (const request of requests()) answers.push(await call(app, request))
    }
  }))
  let killed = 0
  const deadline = Date.now() + BOUND_MS
  // Kill until some requests have met a dead connection, and for at least 20 rounds.
  for (let round = 1; round <= 20 || (!answers.some((a) => a.statusCode === 503) && Date.now() < deadline); round++) {
    killed += await terminateConnections(databaseName(databaseUrl))
    await sleep(10)
  }
  running = false
  await load

  t.ok(killed > 0, `connections were killed (${killed})`)
  const outage = answers.filter((answer) => answer.statusCode === 503)
  t.ok(outage.length > 0, `some requests met a killed connection (${outage.length} of ${answers.length})`)
  t.same(answers.filter((answer) => ![200, 201, 503].includes(answer.statusCode)).map((a) => `${a.statusCode} ${a.body}`), [],
    'every answer is a success or a 503, never a 500')
  t.same(outage.filter((answer) => JSON.stringify(answer.json()) !== JSON.stringify(UNAVAILABLE)).map((a) => a.body), [],
    'every 503 is database_unavailable')

  // Once the killing stops, nothing is retried by hand: the very next requests succeed.
  await sleep(100)
  const item = await call(app, { method: 'GET', url: '/item/lamp', headers: bearer(user.access) })
  t.equal(item.statusCode, 200, `a read succeeds (${item.body})`)
  t.match(item.json(), { name: 'lamp', price: 4 })
  t.equal((await call(app, { method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' } })).statusCode, 201,
    'a write succeeds')
  t.equal((await call(app, { method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200, 'a revocation is written')
  t.equal((await call(app, { method: 'GET', url: '/item/lamp', headers: bearer(user.access) })).json().error, 'token_revoked', 'and read')
  t.equal((await call(app, { method: 'GET', url: '/health/ready' })).statusCode, 200, '/health/ready is ready')
})

t.test('PostgreSQL unreachable: 503 database_unavailable, never 500; service resumes when it is back', async (t) => {
  if (!await requirePostgres(t)) return
  const databaseUrl = new URL(await testDatabaseUrl(t, 'postgres'))
  const proxy = await startTcpProxy(t, { host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) })
  databaseUrl.host = `127.0.0.1:${proxy.port}`
  // Built after the proxy, so it is closed before the proxy is (teardowns run last in, first out).
  const app = await buildTestApp(t, { databaseUrl: databaseUrl.toString(), env: { DATABASE_TIMEOUT_MS: TIMEOUT_MS } })
  const user = await signUp(app)
  t.equal((await call(app, { method: 'PUT', url: '/item/widget', headers: bearer(user.access), payload: { price: 12.5 } })).statusCode, 201)

  await proxy.stop()

  const requests: Array<[string, InjectOptions]> = [
    ['GET /item/widget (the revocation check reads the database)', { method: 'GET', url: '/item/widget', headers: bearer(user.access) }],
    ['GET /items with a token', { method: 'GET', url: '/items', headers: bearer(user.access) }],
    ['PUT /item/widget', { method: 'PUT', url: '/item/widget', headers: bearer(user.access), payload: { price: 1 } }],
    ['POST /register', { method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' } }],
    ['POST /login', { method: 'POST', url: '/login', payload: { username: user.username, password: user.password } }],
    ['POST /logout', { method: 'POST', url: '/logout', headers: bearer(user.access) }]
  ]
  for (const [what, request] of requests) assertUnavailable(t, await call(app, request), what)

  const ready = await call(app, { method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503, '/health/ready says not ready')
  t.match(ready.json(), { error: 'not_ready', checks: { database: 'failing' } })
  t.equal((await call(app, { method: 'GET', url: '/health/live' })).statusCode, 200, '/health/live still answers')
  const noToken = await call(app, { method: 'GET', url: '/item/widget' })
  t.equal(noToken.json().error, 'authorization_required', 'a request without a token is still told so')

  await proxy.start()

  const item = await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })
  t.equal(item.statusCode, 200, `the first request after the outage succeeds (${item.body})`)
  t.match(item.json(), { name: 'widget', price: 12.5 }, 'and nothing was written during it')
  t.equal((await call(app, { method: 'GET', url: '/health/ready' })).statusCode, 200, '/health/ready is ready again')
  t.equal((await call(app, { method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200, 'logout works again')
  t.equal((await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })).json().error, 'token_revoked')
})

t.test('with Redis revocations, protected reads during a PostgreSQL outage are database_unavailable too', async (t) => {
  if (!await requirePostgres(t) || !await requireRedis(t)) return
  const databaseUrl = new URL(await testDatabaseUrl(t, 'postgres'))
  const proxy = await startTcpProxy(t, { host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) })
  databaseUrl.host = `127.0.0.1:${proxy.port}`
  const app = await buildTestApp(t, { store: 'redis', databaseUrl: databaseUrl.toString(), env: { DATABASE_TIMEOUT_MS: TIMEOUT_MS } })
  const user = await signUp(app)
  await proxy.stop()
  // The revocation check passes (Redis answers); the reads of the route do not.
  assertUnavailable(t, await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) }), 'GET /item/widget')
  assertUnavailable(t, await call(app, { method: 'GET', url: '/items', headers: bearer(user.access) }), 'GET /items with a token')
  // A revocation is acknowledged only once it is in the SQL record (docs/tokens-and-revocation.md):
  // with the database down, logout answers 503 and the token stays valid; once it is back, it ends.
  assertUnavailable(t, await call(app, { method: 'POST', url: '/logout', headers: bearer(user.access) }), 'POST /logout, not recorded durably')
  await proxy.start()
  t.equal((await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })).json().error, 'not_found', 'the token was not revoked')
  t.equal((await call(app, { method: 'POST', url: '/logout', headers: bearer(user.access) })).statusCode, 200)
  t.equal((await call(app, { method: 'GET', url: '/item/widget', headers: bearer(user.access) })).json().error, 'token_revoked')
})

t.test('a statement held up past DATABASE_TIMEOUT_MS is cancelled: 503 database_unavailable, and the next request succeeds', async (t) => {
  if (!await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  const app = await buildTestApp(t, { databaseUrl, env: { DATABASE_TIMEOUT_MS: '300' } })
  const user = await signUp(app)
  t.equal((await call(app, { method: 'PUT', url: '/item/lamp', headers: bearer(user.access), payload: { price: 3 } })).statusCode, 201)

  // Another session holds a lock on items that every read of it waits for.
  const other = new Client({ connectionString: databaseUrl })
  other.on('error', () => {})
  await other.connect()
  t.teardown(async () => { await other.end() })
  await other.query('begin')
  await other.query('lock table items in access exclusive mode')

  const started = Date.now()
  assertUnavailable(t, await call(app, { method: 'GET', url: '/item/lamp', headers: bearer(user.access) }), 'GET /item/lamp behind the lock')
  t.ok(Date.now() - started < 3000, `answered after the statement timeout, not when the lock went (${Date.now() - started} ms)`)

  await other.query('rollback')
  const item = await call(app, { method: 'GET', url: '/item/lamp', headers: bearer(user.access) })
  t.equal(item.statusCode, 200, `the next request succeeds (${item.body})`)
})

t.test('app.close() neither rejects nor hangs while PostgreSQL is down', async (t) => {
  if (!await requirePostgres(t)) return
  const databaseUrl = new URL(await testDatabaseUrl(t, 'postgres'))
  const proxy = await startTcpProxy(t, { host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) })
  databaseUrl.host = `127.0.0.1:${proxy.port}`
  const app = await buildApp(testConfig(t, { databaseUrl: databaseUrl.toString(), env: { DATABASE_TIMEOUT_MS: TIMEOUT_MS } }), { logger: false })
  let closing: Promise<void> | undefined
  t.teardown(async () => { await (closing ??= app.close()).catch(() => {}) })
  await signUp(app)
  await proxy.stop()

  closing = app.close()
  const outcome = await within(BOUND_MS, 'app.close() with PostgreSQL down', closing)
    .then(() => 'resolved', (error: Error) => `rejected: ${error.message}`)
  t.equal(outcome, 'resolved', 'app.close() resolves (the purge of expired revocations is skipped)')
})

t.test('the app refuses to start when PostgreSQL does not answer', async (t) => {
  if (!await requirePostgres(t)) return
  async function refuses (url: URL, what: string): Promise<void> {
    const building = buildApp(testConfig(t, { databaseUrl: url.toString(), env: { DATABASE_TIMEOUT_MS: '500' } }), { logger: false })
    building.then(async (app) => { await app.close() }, () => {})
    const where = `postgres://${url.host}${url.pathname}`.replace(/[.]/g, '\\.')
    await t.rejects(within(BOUND_MS, `buildApp with ${what}`, building), new RegExp(`^PostgreSQL at ${where} is not usable: `),
      `${what}: buildApp rejects, naming the server and database and never the password`)
  }
  const url = new URL(`postgres://gatehouse:secret@127.0.0.1:1/gh_${randomUUID().slice(0, 8)}`)
  await refuses(url, 'nothing listening on the port')

  // Something accepts connections but never answers: the connection timeout ends the wait.
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => { silent.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => { silent.close(resolve) })
  })
  url.port = String((silent.address() as AddressInfo).port)
  await refuses(url, 'a listener that never answers')
})

t.test('SQLite locked by another connection: 503 database_unavailable, then success once the lock is gone', async (t) => {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const app = await buildTestApp(t, { databaseUrl })
  const other = new SQLite(databaseUrl.slice('sqlite:'.length))
  t.teardown(() => { other.close() })
  // Another process holding the write lock past the app's busy timeout (5 s).
  other.exec('begin immediate')
  const register = { method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' } } as const
  assertUnavailable(t, await call(app, register), 'POST /register while the file is locked')
  other.exec('rollback')
  t.equal((await call(app, register)).statusCode, 201, 'the same request succeeds once the lock is released')
})
