import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildTestApp, decode, requireRedis, uniqueName } from '../helpers'
import { call } from '../helpers/http-call'
import { startNginx } from '../helpers/nginx'
import { createPostgresDatabase, requirePostgres } from '../helpers/postgres'

// Loopback addresses of their own: a browser behind nginx, and a client talking to an instance directly.
const BROWSER = '127.0.0.2'
const DIRECT_CLIENT = '127.0.0.3'

t.test('sessions as listed behind real nginx: the client address through a trusted proxy, and a direct one', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const databaseUrl = await createPostgresDatabase(t)
  const redisKeyPrefix = `gatehouse-nginx-sessions:${randomUUID()}:`
  const env = { TRUST_PROXY: '127.0.0.1' }
  const a = await buildTestApp(t, { store: 'redis', databaseUrl, redisKeyPrefix, env })
  const b = await buildTestApp(t, { store: 'redis', databaseUrl, redisKeyPrefix, env })
  const urls = [await a.listen({ host: '127.0.0.1', port: 0 }), await b.listen({ host: '127.0.0.1', port: 0 })]
  const nginx = await startNginx(t, [urls[0].replace('http://', ''), urls[1].replace('http://', '')])
  if (nginx === undefined) return

  const username = uniqueName('devices')
  const password = 'correct horse battery'
  t.equal((await call(nginx.url, '/register', { method: 'POST', body: { username, password }, localAddress: BROWSER })).status, 201)
  const browserAgent = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0'
  const cliAgent = 'gatehouse-cli/1.0'
  const browser = (await call(nginx.url, '/login', {
    method: 'POST', body: { username, password }, localAddress: BROWSER, headers: { 'user-agent': browserAgent, 'x-forwarded-for': '203.0.113.66' }
  })).json
  const cli = (await call(urls[1], '/login', {
    method: 'POST', body: { username, password }, localAddress: DIRECT_CLIENT, headers: { 'user-agent': cliAgent, 'x-forwarded-for': '203.0.113.77' }
  })).json

  const listed = await call(nginx.url, '/sessions', { token: browser.access_token, localAddress: BROWSER })
  t.equal(listed.status, 200)
  t.comment(`GET /sessions:\n${JSON.stringify(listed.json, null, 2)}`)
  t.match(listed.json.sessions, [
    { id: decode(cli.access_token).sid, user_agent: cliAgent, address: DIRECT_CLIENT, current: false },
    { id: decode(browser.access_token).sid, user_agent: browserAgent, address: BROWSER, current: true }
  ], "behind nginx the browser's own address, and no forged X-Forwarded-For believed")
  t.equal(listed.json.sessions.length, 2)

  const ended = await call(nginx.url, `/sessions/${decode(cli.access_token).sid}`, { method: 'DELETE', token: browser.access_token, localAddress: BROWSER })
  t.equal(ended.status, 200, 'the browser ends the other device through nginx')
  for (const url of urls) {
    t.equal((await call(url, '/item/none', { token: cli.access_token })).json?.error, 'token_revoked', 'that device is refused on each instance')
    t.equal((await call(url, '/item/none', { token: browser.access_token })).json?.error, 'not_found', 'the browser goes on on each instance')
  }
  t.equal((await call(urls[0], '/refresh', { method: 'POST', token: cli.refresh_token })).json?.error, 'token_revoked')
})
