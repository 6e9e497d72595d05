import Fastify from 'fastify'
import t from 'tap'
import { gatehouse } from '../../src/app'
import { testConfig, testDatabaseUrl } from '../helpers'
import { render, requireChromium } from '../helpers/chromium'

type Test = tap.Test

// A single-page app on a host that mounts Gatehouse, driven by a real browser: the cookies' paths,
// HttpOnly and CSRF twins as Chromium applies them, not as a test would assume them.

const USERNAME = 'spa_user'
const PASSWORD = 'correct horse battery'

/** The page: runs every step in order, then writes what each answered into <pre id="result">. */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>spa</title></head><body><pre id="result">running</pre>
<script>
const steps = []
const cookie = (name) => (document.cookie.split('; ').find((c) => c.startsWith(name + '=')) || '').slice(name.length + 1)
async function call (step, method, path, headers, body) {
  const res = await fetch(path, {
    method, credentials: 'same-origin',
    headers: Object.assign(body === undefined ? {} : { 'content-type': 'application/json' }, headers),
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  let error = null
  try { error = (await res.json()).error || null } catch (e) {}
  steps.push({ step, status: res.status, error })
}
(async () => {
  await call('login', 'POST', '/login', {}, { username: ${JSON.stringify(USERNAME)}, password: ${JSON.stringify(PASSWORD)} })
  const readable = document.cookie.split('; ').map((c) => c.split('=')[0]).sort()
  await call('protected', 'GET', '/item/none')
  await call('refresh', 'POST', '/refresh', { 'X-CSRF-TOKEN': cookie('csrf_refresh_token') })
  await call('write without the CSRF header', 'PUT', '/item/lamp', {}, { price: 4 })
  await call('write', 'PUT', '/item/lamp', { 'X-CSRF-TOKEN': cookie('csrf_access_token') }, { price: 3 })
  const refreshCsrf = cookie('csrf_refresh_token')
  const accessCsrf = cookie('csrf_access_token')
  await call('logout', 'POST', '/logout', { 'X-CSRF-TOKEN': accessCsrf })
  const left = document.cookie
  await call('protected after logout', 'GET', '/item/lamp')
  await call('refresh after logout', 'POST', '/refresh', { 'X-CSRF-TOKEN': refreshCsrf })
  await call('write after logout', 'PUT', '/item/lamp', { 'X-CSRF-TOKEN': accessCsrf }, { price: 5 })
  await fetch('/app/probe', { credentials: 'same-origin' })
  document.getElementById('result').textContent = JSON.stringify({ steps, readable, left })
})().catch((error) => { document.getElementById('result').textContent = 'failed: ' + error })
</script></body></html>`

interface Outcome { steps: Array<{ step: string, status: number, error: string | null }>, readable: string[], left: string }

/** Serves the page at /app beside Gatehouse (mounted as a host would), runs it in Chromium. */
async function runPage (t: Test, env: Record<string, string>): Promise<{ outcome: Outcome, cookieHeaders: Map<string, string> }> {
  const config = testConfig(t, { databaseUrl: await testDatabaseUrl(t, 'sqlite'), env: { JWT_TOKEN_LOCATION: 'cookies', JWT_COOKIE_SECURE: 'false', ...env } })
  const host = Fastify({ logger: false })
  // The Cookie header of the first request to each route: what the browser sends.
  const cookieHeaders = new Map<string, string>()
  host.addHook('onRequest', async (request) => {
    const key = `${request.method} ${request.url}`
    if (!cookieHeaders.has(key)) cookieHeaders.set(key, request.headers.cookie ?? '')
  })
  host.get('/app', async (_request, reply) => await reply.type('text/html; charset=utf-8').send(PAGE))
  host.get('/app/probe', async () => ({ ok: true }))
  await host.register(gatehouse, { config })
  t.teardown(async () => { await host.close() })
  const address = await host.listen({ host: '127.0.0.1', port: 0 })
  const registered = await host.inject({ method: 'POST', url: '/register', payload: { username: USERNAME, password: PASSWORD } })
  t.equal(registered.statusCode, 201)

  const { dom, log } = await render(t, `${address}/app`, { virtualTimeMs: 10_000 })
  const text = /<pre id="result">([\s\S]*?)<\/pre>/.exec(dom)?.[1]?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&') ?? ''
  if (!text.startsWith('{')) throw new Error(`the page did not finish: ${text}\n${log}`)
  return { outcome: JSON.parse(text), cookieHeaders }
}

t.test('a single-page app at /app: login, a protected call, a refresh, a write with the CSRF header, logout', async (t: Test) => {
  if (!requireChromium(t)) return
  const { outcome, cookieHeaders } = await runPage(t, {})
  const status = Object.fromEntries(outcome.steps.map(({ step, status, error }) => [step, error === null ? status : `${status} ${error}`]))
  t.same(status, {
    login: 200,
    protected: '404 not_found', // signed in: the item is simply missing
    refresh: 200,
    'write without the CSRF header': '401 csrf_mismatch',
    write: 201,
    logout: 200,
    'protected after logout': '401 authorization_required',
    'refresh after logout': '401 authorization_required',
    'write after logout': '401 authorization_required'
  })
  t.same(outcome.readable, ['csrf_access_token', 'csrf_refresh_token'], 'the page reads both CSRF cookies, never the token cookies')
  t.equal(outcome.left, '', 'no readable cookie is left after logout')
  t.equal(cookieHeaders.get('GET /app/probe'), '', 'the browser sends no cookie of the session after logout')
  t.match(cookieHeaders.get('POST /refresh'), /refresh_token_cookie=/, 'the refresh cookie reached /refresh')
})

t.test('with the refresh cookies at Path=/refresh (before issue 13), the page at /app cannot refresh', async (t: Test) => {
  if (!requireChromium(t)) return
  const { outcome } = await runPage(t, { JWT_REFRESH_COOKIE_PATH: '/refresh', JWT_REFRESH_CSRF_COOKIE_PATH: '/refresh' })
  t.same(outcome.steps.find(({ step }) => step === 'refresh'), { step: 'refresh', status: 401, error: 'csrf_mismatch' })
  t.same(outcome.readable, ['csrf_access_token'], 'csrf_refresh_token is out of the page\'s reach')
})
