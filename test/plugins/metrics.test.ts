import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, forEachStore, signUp, tempDir, uniqueName } from '../helpers'
import { startRedisServer } from '../helpers/redis-server'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

interface Family { name: string, help: string, type: string }

// An independent parser of the Prometheus text format: a scrape it cannot read fails the test. It
// folds labelled histograms together, so sample values are read from the lines themselves.
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => Family[]

/** Every sample line: `name{label="value",…} number`. */
function samplesOf (text: string): Array<{ name: string, labels: Record<string, string>, value: number }> {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample line: ${line}`)
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    return { name: match[1], labels, value: Number(match[3]) }
  })
}

async function scrape (t: Test, app: App, url = '/metrics') {
  const response = await app.inject({ method: 'GET', url })
  t.equal(response.statusCode, 200, 'GET /metrics answers 200')
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const families = parsePrometheus(response.body)
  const samples = samplesOf(response.body)
  const family = (name: string): Family | undefined => families.find((f) => f.name === name)
  /** The value of the sample `name` with exactly these labels (0 where there is none). */
  const value = (name: string, labels: Record<string, string> = {}): number =>
    samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))?.value ?? 0
  return { families, family, samples, value, body: response.body }
}

forEachStore(t, async (t, store) => {
  const app = await buildTestApp(t, { store, env: { LOGIN_MAX_FAILURES: '2', JWT_REFRESH_REUSE_INTERVAL: '0' } })
  const get = async (url: string, token?: string) => await app.inject({ method: 'GET', url, headers: token === undefined ? {} : bearer(token) })
  const post = async (url: string, payload?: object, token?: string) =>
    await app.inject({ method: 'POST', url, payload, headers: token === undefined ? {} : bearer(token) })

  const user = await signUp(app) // 1 login: access + refresh
  await app.inject({ method: 'POST', url: '/item/widget', headers: bearer(user.access), payload: { price: 1 } })
  for (let i = 0; i < 3; i++) t.equal((await get('/item/widget', user.access)).statusCode, 200)
  t.equal((await get('/item/widget')).statusCode, 401) // authorization_required
  t.equal((await get('/item/widget', 'not-a-token')).statusCode, 401) // invalid_token
  t.equal((await app.inject({ method: 'DELETE', url: '/item/widget', headers: bearer(user.access) })).statusCode, 403) // admin_required
  t.equal((await get('/user/12345abc', user.access)).statusCode, 400)
  const rotated = (await post('/refresh', undefined, user.refresh)).json() // access + refresh
  t.equal((await post('/refresh', undefined, user.refresh)).statusCode, 401, 'reuse detected') // token_revoked
  t.equal((await post('/logout', undefined, rotated.access_token)).statusCode, 401, 'the reuse ended the session')
  const other = await signUp(app) // access + refresh
  t.equal((await post('/logout', undefined, other.access)).statusCode, 200)
  const victim = uniqueName()
  for (let i = 0; i < 3; i++) await post('/login', { username: victim, password: 'wrong password' }) // 2 × 401, then 429
  await get('/no/such/route/' + uniqueName())

  const { value, family, families, samples, body } = await scrape(t, app)
  t.equal(value('gatehouse_tokens_issued_total', { type: 'access' }), 3, 'access tokens: two logins, one refresh')
  t.equal(value('gatehouse_tokens_issued_total', { type: 'refresh' }), 3, 'refresh tokens: two logins, one rotation')
  t.equal(value('gatehouse_auth_failures_total', { code: 'authorization_required' }), 1)
  t.equal(value('gatehouse_auth_failures_total', { code: 'invalid_token' }), 1)
  t.equal(value('gatehouse_auth_failures_total', { code: 'admin_required' }), 1)
  t.equal(value('gatehouse_auth_failures_total', { code: 'token_revoked' }), 2)
  t.equal(value('gatehouse_auth_failures_total', { code: 'invalid_credentials' }), 2)
  t.equal(value('gatehouse_security_events_total', { event: 'login_failed' }), 2)
  t.equal(value('gatehouse_security_events_total', { event: 'login_succeeded' }), 2)
  t.equal(value('gatehouse_refresh_reuse_detected_total'), 1)
  t.equal(value('gatehouse_login_throttled_total'), 1)
  t.equal(value('gatehouse_revocations_total', { reason: 'refresh_reuse_detected' }), 1)
  t.equal(value('gatehouse_revocations_total', { reason: 'logout' }), 1)
  t.equal(value('gatehouse_store_up', { store: 'database' }), 1)
  t.equal(value('gatehouse_store_up', { store: 'revocation' }), 1)
  t.ok(value('gatehouse_store_ping_seconds', { store: 'revocation' }) > 0, 'the revocation store ping is timed')
  t.equal(value('gatehouse_store_errors_total', { store: 'revocation' }), 0)

  t.equal(family('gatehouse_http_request_duration_seconds')?.type, 'HISTOGRAM')
  const count = (method: string, route: string, status: string): number =>
    value('gatehouse_http_request_duration_seconds_count', { method, route, status_code: status })
  t.equal(count('GET', '/item/:name', '200'), 3, 'requests are timed by route template, method and status')
  t.equal(count('GET', '/item/:name', '401'), 2)
  t.equal(count('POST', '/login', '429'), 1)
  t.equal(count('GET', 'not_found', '404'), 1, 'unmatched URLs share one label')
  t.equal(count('GET', '/user/:id', '400'), 1)
  const routes = new Set(samples.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route))
  t.notOk([...routes].some((route) => route.includes('widget') || route.includes('no/such')), 'no raw URL is a label value')
  t.equal(value('gatehouse_http_request_duration_seconds_bucket', { method: 'GET', route: '/item/:name', status_code: '200', le: '+Inf' }), 3)
  t.ok(value('gatehouse_http_request_duration_seconds_sum', { method: 'GET', route: '/item/:name', status_code: '200' }) > 0)

  t.ok(family('nodejs_eventloop_lag_seconds') !== undefined, 'event-loop delay')
  t.ok(family('process_resident_memory_bytes') !== undefined, 'process metrics')
  t.equal(new Set(families.map((f) => f.name)).size, families.length, 'no metric is exposed twice')
  t.notOk(body.includes(user.access) || body.includes(victim), 'no token or username in the metrics')

  const again = await scrape(t, app)
  t.ok(again.value('gatehouse_http_request_duration_seconds', { method: 'GET', route: '/metrics', status_code: '200' }) >= 0)
  t.equal(again.value('gatehouse_tokens_issued_total', { type: 'access' }), 3, 'a scrape changes no counter')
})

t.test('METRICS_ENABLED=false: no /metrics', async (t) => {
  const app = await buildTestApp(t, { env: { METRICS_ENABLED: 'false' } })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
  t.equal(app.metrics.server, undefined)
})

t.test('METRICS_PORT: /metrics only on a server of its own', async (t) => {
  const app = await buildTestApp(t, { env: { METRICS_PORT: '0' } })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404, 'not on the API')
  const server = app.metrics.server
  if (server === undefined) throw new Error('no metrics server')
  await signUp(app)
  const response = await server.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.match(response.body, /gatehouse_tokens_issued_total\{type="access"\} 1/)
  t.equal((await server.inject({ method: 'GET', url: '/items' })).statusCode, 404, 'nothing but /metrics there')
})

t.test('the server listens on METRICS_PORT', async (t) => {
  const server = await startServer(t, tempDir(t), {
    DATABASE_URL: `sqlite:${tempDir(t)}/db.sqlite`, JWT_SECRET_KEY: 'k'.repeat(40), METRICS_PORT: '0'
  })
  const line = await server.waitForLog('the metrics listener', (record) => record.msg === 'metrics listening')
  t.not(line.url, server.url)
  const metrics = await fetch(`${line.url as string}/metrics`)
  t.equal(metrics.status, 200)
  t.match(await metrics.text(), /nodejs_eventloop_lag_seconds/)
  t.equal((await fetch(`${server.url}/metrics`)).status, 404)
})

t.test('Redis down: store errors and a failing ping are counted', async (t) => {
  const redis = await startRedisServer(t)
  if (redis === undefined) return
  const app = await buildTestApp(t, { store: 'redis', env: { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '100' } })
  const user = await signUp(app)
  await redis.stop()
  const refused = await app.inject({ method: 'GET', url: '/item/x', headers: bearer(user.access) })
  t.equal(refused.statusCode, 503)
  t.equal(refused.json().error, 'revocation_unavailable')
  const { value } = await scrape(t, app)
  t.equal(value('gatehouse_store_errors_total', { store: 'revocation' }), 1)
  t.equal(value('gatehouse_store_up', { store: 'revocation' }), 0)
  t.equal(value('gatehouse_store_up', { store: 'database' }), 1)
  // The client reports the failure when it tries to reconnect, a little later.
  let connectionErrors = 0
  for (const deadline = Date.now() + 5000; connectionErrors === 0 && Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    connectionErrors = Number(/^gatehouse_redis_connection_errors_total (\d+)$/m.exec(await app.metrics.scrape())?.[1] ?? 0)
  }
  t.ok(connectionErrors >= 1, 'the lost connection is counted')
})
