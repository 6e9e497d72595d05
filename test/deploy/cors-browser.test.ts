import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { SECRET, tempDir } from '../helpers'
import { render, requireChromium } from '../helpers/chromium'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

/**
 * A page on an origin of its own (another port of 127.0.0.1: another origin, the same site) that
 * runs `script` against the API and writes what it saw, as JSON, into <pre id="result">.
 */
async function pageServer (t: Test, script: () => string): Promise<{ origin: string, url: string }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    response.end(`<!doctype html><pre id="result">pending</pre><script>
(async () => {
  const out = {}
  try { ${script()} } catch (error) { out.error = String(error) }
  document.getElementById('result').textContent = JSON.stringify(out)
})()
</script>`)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { origin, url: `${origin}/` }
}

async function pageResult (t: Test, url: string): Promise<Record<string, any>> {
  const { dom } = await render(t, url)
  const text = /<pre id="result">([^<]*)<\/pre>/.exec(dom)?.[1] ?? ''
  return JSON.parse(text.replace(/&quot;/g, '"').replace(/&amp;/g, '&'))
}

const JSON_HEADERS = "{ 'content-type': 'application/json' }"
const CREDENTIALS = "JSON.stringify({ username: 'browser_user', password: 'correct horse battery' })"

t.test('headers mode: a page on a listed origin registers, logs in and calls with a Bearer token; an unlisted one cannot', async (t: Test) => {
  if (!requireChromium(t)) return
  let api = ''
  const flow = (): string => `
    const json = ${JSON_HEADERS}
    out.register = (await fetch('${api}/register', { method: 'POST', headers: json, body: ${CREDENTIALS} })).status
    const login = await fetch('${api}/login', { method: 'POST', headers: json, body: ${CREDENTIALS} })
    out.login = login.status
    const token = (await login.json()).access_token
    const auth = { ...json, authorization: 'Bearer ' + token }
    out.created = (await fetch('${api}/item/lamp', { method: 'POST', headers: auth, body: JSON.stringify({ price: 3 }) })).status
    const missing = await fetch('${api}/item/none', { headers: auth })
    out.missing = [missing.status, (await missing.json()).error]
    const anonymous = await fetch('${api}/item/none')
    out.anonymous = [anonymous.status, anonymous.headers.get('www-authenticate')]`
  const listed = await pageServer(t, flow)
  const unlisted = await pageServer(t, flow)
  const dir = tempDir(t)
  const server = await startServer(t, dir, { JWT_SECRET_KEY: SECRET, CORS_ORIGINS: listed.origin })
  api = server.url

  t.same(await pageResult(t, listed.url), {
    register: 201, login: 200, created: 201, missing: [404, 'not_found'], anonymous: [401, 'Bearer']
  }, 'every call answered and readable, preflights passed, WWW-Authenticate exposed')
  const refused = await pageResult(t, unlisted.url)
  t.match(refused, { error: /TypeError: Failed to fetch/ }, 'the browser refuses the unlisted origin\'s first call')
  const login = await fetch(`${api}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'browser_user', password: 'correct horse battery' }) })
  t.equal(login.status, 200, 'the account the listed page made exists')
})

t.test('cookies mode: the page logs in with credentials, then writes with its CSRF header; without it, refused', async (t: Test) => {
  if (!requireChromium(t)) return
  let api = ''
  const page = await pageServer(t, () => `
    const json = ${JSON_HEADERS}
    const send = { credentials: 'include' }
    out.register = (await fetch('${api}/register', { ...send, method: 'POST', headers: json, body: ${CREDENTIALS} })).status
    out.login = (await fetch('${api}/login', { ...send, method: 'POST', headers: json, body: ${CREDENTIALS} })).status
    // Cookies belong to a host, not a port: the page reads the API's CSRF cookie, as a same-site front end does.
    const csrf = document.cookie.split('; ').find((pair) => pair.startsWith('csrf_access_token='))?.split('=')[1]
    out.csrfCookie = csrf !== undefined
    const noHeader = await fetch('${api}/item/lamp', { ...send, method: 'POST', headers: json, body: JSON.stringify({ price: 3 }) })
    out.withoutCsrf = [noHeader.status, (await noHeader.json()).error]
    const withHeader = await fetch('${api}/item/lamp', { ...send, method: 'POST', headers: { ...json, 'x-csrf-token': csrf }, body: JSON.stringify({ price: 3 }) })
    out.withCsrf = withHeader.status
    out.read = (await fetch('${api}/item/lamp', send)).status
    out.withoutCredentials = (await fetch('${api}/item/lamp')).status`)
  const server = await startServer(t, tempDir(t), {
    JWT_SECRET_KEY: SECRET,
    CORS_ORIGINS: page.origin,
    JWT_TOKEN_LOCATION: 'cookies',
    // Plain HTTP on 127.0.0.1 in the test; production keeps Secure.
    JWT_COOKIE_SECURE: 'false'
  })
  api = server.url
  t.same(await pageResult(t, page.url), {
    register: 201, login: 200, csrfCookie: true, withoutCsrf: [401, 'csrf_mismatch'], withCsrf: 201, read: 200, withoutCredentials: 401
  }, 'cookies sent cross-origin with credentials: include, the CSRF double submit enforced')
})
