import { randomUUID } from 'node:crypto'
import t from 'tap'
import { decode, requireRedis, SECRET, tempDir, TEST_REDIS_URL, uniqueName } from '../helpers'
import { call } from '../helpers/http-call'
import { startNginx } from '../helpers/nginx'
import { createPostgresDatabase, requirePostgres } from '../helpers/postgres'
import { startServer, type ServerProcess } from '../helpers/server-process'

// Loopback addresses of their own, so the logs tell who connected: a client behind nginx, and a
// client talking to an instance directly. nginx itself connects from 127.0.0.1.
const CLIENT = '127.0.0.2'
const DIRECT_CLIENT = '127.0.0.3'
const NGINX_REQUEST_ID = /^[0-9a-f]{32}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The log lines of request `id` on whichever instance served it, once it has logged its end. */
async function linesOf (id: string, ...instances: ServerProcess[]): Promise<Array<Record<string, any>>> {
  await Promise.any(instances.map(async (instance) =>
    await instance.waitForLog(`the end of request ${id}`, (line) => line.reqId === id && line.msg === 'request completed')))
  return instances.flatMap((instance) => instance.logLines().filter((line) => line.reqId === id))
}

t.test('two instances behind real nginx share one PostgreSQL database and one Redis', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const env = {
    DATABASE_URL: await createPostgresDatabase(t),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `gatehouse-nginx-test:${randomUUID()}:`,
    JWT_SECRET_KEY: SECRET,
    LOG_LEVEL: 'info',
    TRUST_PROXY: '127.0.0.1',
    SHUTDOWN_DRAIN_MS: '100'
  }
  // One after the other: the first brings the fresh database's schema up to date.
  const a = await startServer(t, tempDir(t), env)
  const b = await startServer(t, tempDir(t), env)
  const nginx = await startNginx(t, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`])
  if (nginx === undefined) return
  const viaNginx = async (path: string, options: Parameters<typeof call>[2] = {}): ReturnType<typeof call> =>
    await call(nginx.url, path, { localAddress: CLIENT, ...options })

  const username = uniqueName('nginx')
  const password = 'correct horse battery'
  t.equal((await viaNginx('/register', { method: 'POST', body: { username, password } })).status, 201, 'register through nginx')
  const login = await viaNginx('/login', { method: 'POST', body: { username, password } })
  t.equal(login.status, 200, 'log in through nginx')
  const { access_token: access, refresh_token: refresh } = login.json

  for (const [name, instance] of [['A', a], ['B', b]] as const) {
    t.equal((await call(instance.url, '/item/none', { token: access })).json?.error, 'not_found', `the token works on instance ${name} directly`)
  }
  for (let i = 0; i < 4; i++) t.equal((await viaNginx('/item/none', { token: access })).json?.error, 'not_found', 'and through nginx')
  const throughNginx = (line: string): boolean => line.includes('GET /item/none')
  const entries = (await nginx.accessLogWhen((lines) => lines.filter(throughNginx).length >= 4)).filter(throughNginx)
  const upstreams = new Set(entries.map((line) => / upstream=(.*) upstream_status=/.exec(line)?.[1]))
  t.same([...upstreams].sort(), [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort(), 'nginx sent those requests to both instances')

  t.equal((await call(a.url, '/logout', { method: 'POST', token: access })).status, 200, 'log out on instance A')
  t.equal((await call(b.url, '/item/none', { token: access })).json?.error, 'token_revoked', 'instance B refuses the token at once')
  t.equal((await call(b.url, '/refresh', { method: 'POST', token: refresh })).json?.error, 'token_revoked', 'and the refresh token of that login')
  t.equal((await viaNginx('/item/none', { token: access })).json?.error, 'token_revoked', 'so does nginx, whichever instance answers')

  const again = (await call(b.url, '/login', { method: 'POST', body: { username, password } })).json
  t.equal((await call(a.url, `/user/${decode(again.access_token).sub}`, { method: 'DELETE', token: again.access_token })).status, 200,
    'delete the user on instance A')
  t.equal((await call(b.url, '/item/none', { token: again.access_token })).json?.error, 'token_revoked', 'instance B refuses the deleted user\'s token')
  t.equal((await call(b.url, '/login', { method: 'POST', body: { username, password } })).json?.error, 'invalid_credentials',
    'and the user is gone on instance B')

  // The client's address and the request id, as the logs show them (on /items: health probes are
  // not logged at info).
  const live = await viaNginx('/items', { headers: { 'x-forwarded-for': '203.0.113.66', 'x-request-id': 'chosen-by-client' } })
  const id = String(live.headers['x-request-id'])
  t.match(id, NGINX_REQUEST_ID, 'through nginx the answer carries nginx\'s request id, not the client\'s')
  await nginx.accessLogWhen((lines) => lines.some((line) => line.includes(`request_id=${id}`)))
  t.pass('the id is in nginx\'s access log')
  const logged = await linesOf(id, a, b)
  t.ok(logged.length >= 2, 'and on the instance\'s log lines of the request, its start and its end')
  t.equal(logged.find((line) => line.msg === 'incoming request')?.req.remoteAddress, CLIENT,
    'the instance logs the client\'s address, not nginx\'s nor the forged X-Forwarded-For')

  const direct = await call(a.url, '/items', { localAddress: DIRECT_CLIENT, headers: { 'x-forwarded-for': '203.0.113.66', 'x-request-id': 'chosen-by-client' } })
  const directId = String(direct.headers['x-request-id'])
  t.match(directId, UUID, 'a direct client\'s X-Request-Id is replaced by a generated id')
  t.equal((await linesOf(directId, a)).find((line) => line.msg === 'incoming request')?.req.remoteAddress, DIRECT_CLIENT,
    'and its forged X-Forwarded-For is ignored: the log shows its own address')
  for (const instance of [a, b]) t.notOk(instance.output().includes('chosen-by-client'), 'no client-chosen id reaches a log')

  // The metrics are for Prometheus inside the deployment: served by each instance, not by nginx.
  t.equal((await call(a.url, '/metrics')).status, 200, 'an instance serves /metrics directly')
  for (const path of ['/metrics', '/metrics?name=x', '/metrics/', '//metrics', '/%6Detrics']) {
    const answer = await viaNginx(path)
    t.equal(answer.status, 404, `nginx answers 404 for ${path}`)
    t.equal(answer.json?.error, 'not_found', 'in the API\'s error shape')
  }
  const toMetrics = (line: string): boolean => /"GET \S*etrics/i.test(line)
  const metricsEntries = (await nginx.accessLogWhen((lines) => lines.filter(toMetrics).length >= 5)).filter(toMetrics)
  t.ok(metricsEntries.every((line) => line.includes(' upstream=- ')), 'nginx answered them all itself: none reached an instance')
  for (const path of ['/docs/', '/openapi.json']) t.equal((await viaNginx(path)).status, 200, `${path} stays public`)
})
