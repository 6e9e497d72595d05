import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import t from 'tap'
import { decode, flaskClaims, forge, SECRET, tempDir } from '../helpers'
import { cli } from '../helpers/cli-process'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

// The real Flask-JWT-Extended (Debian's python3-python-flask-jwt-extended, 4.4.x) beside the built
// Gatehouse, sharing the secret, through HTTP only. Debian's python and gunicorn are named
// explicitly: `python3` on PATH may be another installation without the packages.
const PYTHON = '/usr/bin/python3'
const GUNICORN = '/usr/bin/gunicorn'
const APP_DIR = resolve(__dirname)
const IN_CI = process.env.CI === 'true'
const START_MS = 15_000

function flaskMissing (): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`
  if (!existsSync(GUNICORN)) return `${GUNICORN} is not installed (apt-get install gunicorn)`
  const probe = spawnSync(PYTHON, ['-c', 'import flask, flask_jwt_extended'], { encoding: 'utf8' })
  if (probe.status !== 0) return `Flask-JWT-Extended is not importable by ${PYTHON} (apt-get install python3-python-flask-jwt-extended python3-flask)`
  return undefined
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolve(port) })
    })
  })
}

/** The Flask app under gunicorn (one worker: its blocklist is in-process) on a spare port. */
async function startFlask (t: Test, env: Record<string, string>): Promise<string> {
  const port = await freePort()
  const child = spawn(GUNICORN, ['--workers', '1', '--bind', `127.0.0.1:${port}`, '--chdir', APP_DIR, 'app:app'], {
    env: { PATH: '/usr/bin:/bin', PYTHONDONTWRITEBYTECODE: '1', JWT_SECRET_KEY: SECRET, JWT_TOKEN_LOCATION: 'headers,cookies', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise((resolve) => { child.once('exit', resolve) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + START_MS
  for (;;) {
    try {
      if ((await fetch(`${url}/items`)).status === 200) return url
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the Flask app did not start:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface Call { token?: string, cookies?: Record<string, string>, csrf?: string, body?: unknown }
interface Answer { status: number, body: any, cookies: Record<string, string> }

async function call (base: string, method: string, path: string, { token, cookies, csrf, body }: Call = {}): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (cookies !== undefined) headers.cookie = Object.entries(cookies).map(([name, value]) => `${name}=${value}`).join('; ')
  if (csrf !== undefined) headers['x-csrf-token'] = csrf
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await response.text()
  const set: Record<string, string> = {}
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';')
    set[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1)
  }
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch {}
  return { status: response.status, body: parsed, cookies: set }
}

async function login (base: string, username: string, password: string): Promise<Answer> {
  const answer = await call(base, 'POST', '/login', { body: { username, password } })
  if (answer.status !== 200) throw new Error(`login of ${username} at ${base}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer
}

t.test('Gatehouse and Flask-JWT-Extended 4.4 side by side', async (t: Test) => {
  const missing = flaskMissing()
  if (missing !== undefined) {
    if (IN_CI) t.fail(missing)
    else t.pass(`${missing}: skipped`, { skip: true })
    return
  }
  const dir = tempDir(t)
  const flaskDb = join(dir, 'flask.db')
  const flask = await startFlask(t, { FLASK_DB: flaskDb })
  // The seed's course stores plain-text passwords: jose is user 1 (the admin), anna user 2.
  for (const [username, password] of [['jose', 'jose-old'], ['anna', 'anna-old']]) {
    t.equal((await call(flask, 'POST', '/register', { body: { username, password } })).status, 201)
  }

  const env = { DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}`, JWT_SECRET_KEY: SECRET }
  const imported = await cli(env, ['user', 'import', '--from', `sqlite:${flaskDb}`])
  t.equal(imported.code, 0, imported.code === 0 ? 'the Flask users are imported' : imported.stderr)
  t.match(imported.stdout, /imported 2 account/)
  t.equal((await cli(env, ['user', 'set-admin', 'jose', 'on'])).code, 0)
  const gatehouse = (await startServer(t, dir, { ...env, JWT_TOKEN_LOCATION: 'headers,cookies', JWT_COOKIE_SECURE: 'false' })).url

  const gJose = await login(gatehouse, 'jose', 'jose-old')
  const gAnna = await login(gatehouse, 'anna', 'anna-old')
  t.equal(decode(gJose.body.access_token).sub, '1', 'an imported user logs in with the old password and keeps the id')
  t.equal(decode(gAnna.body.access_token).sub, '2')
  const fJose = await login(flask, 'jose', 'jose-old')
  const fAnna = await login(flask, 'anna', 'anna-old')

  await t.test('access tokens, both ways', async (t) => {
    const atFlask = await call(flask, 'GET', '/user/2', { token: gAnna.body.access_token })
    t.same([atFlask.status, atFlask.body.whoami], [200, '2'], 'a Gatehouse token at Flask')
    const atGatehouse = await call(gatehouse, 'GET', '/user/2', { token: fAnna.body.access_token })
    t.same([atGatehouse.status, atGatehouse.body.username], [200, 'anna'], 'a Flask token at Gatehouse: the same account')
    t.equal((await call(gatehouse, 'GET', '/user/1', { token: fAnna.body.access_token })).status, 403, 'and no other')
  })

  await t.test('fresh and refresh, both ways', async (t) => {
    t.equal((await call(flask, 'POST', '/item/lamp', { token: gAnna.body.access_token, body: { price: 1 } })).status, 201, 'a Gatehouse login token is fresh at Flask')
    t.equal((await call(gatehouse, 'POST', '/item/lamp', { token: fAnna.body.access_token, body: { price: 1 } })).status, 201, 'a Flask login token is fresh at Gatehouse')
    const fromFlask = await call(flask, 'POST', '/refresh', { token: gAnna.body.refresh_token })
    t.equal(fromFlask.status, 200, 'a Gatehouse refresh token refreshes at Flask')
    const fromGatehouse = await call(gatehouse, 'POST', '/refresh', { token: fAnna.body.refresh_token })
    t.equal(fromGatehouse.status, 200, 'a Flask refresh token refreshes at Gatehouse')
    t.equal(decode(fromGatehouse.body.access_token).is_admin, false, 'its rights are read from the account')
    for (const [where, base, token] of [['Flask', flask, fromGatehouse.body.access_token], ['Gatehouse', gatehouse, fromFlask.body.access_token]]) {
      const stale = await call(base, 'POST', '/item/desk', { token, body: { price: 1 } })
      t.same([stale.status, stale.body.error], [401, 'fresh_token_required'], `a refreshed token is not fresh at ${where}`)
      t.equal((await call(base, 'GET', '/item/lamp', { token })).status, 200, `but works at ${where}`)
    }
  })

  await t.test('expired and wrong type', async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const expired = forge(flaskClaims(2, { iat: now - 3600, nbf: now - 3600, exp: now - 10 }))
    for (const base of [flask, gatehouse]) {
      const answer = await call(base, 'GET', '/item/lamp', { token: expired })
      t.same([answer.status, answer.body.error], [401, 'token_expired'], `expired at ${base === flask ? 'Flask' : 'Gatehouse'}`)
    }
    const refreshAsAccess = await call(gatehouse, 'GET', '/item/lamp', { token: fAnna.body.refresh_token })
    t.same([refreshAsAccess.status, refreshAsAccess.body.error], [401, 'wrong_token_type'], 'a Flask refresh token is no access token at Gatehouse')
    const atFlask = await call(flask, 'GET', '/item/lamp', { token: gAnna.body.refresh_token })
    t.same([atFlask.status, atFlask.body.error], [401, 'invalid_token'], 'nor a Gatehouse one at Flask (its invalid-token loader)')
    t.equal((await call(gatehouse, 'POST', '/refresh', { token: fAnna.body.access_token })).body.error, 'wrong_token_type')
    t.equal((await call(flask, 'POST', '/refresh', { token: gAnna.body.access_token })).status, 401)
  })

  await t.test('admin', async (t) => {
    t.equal(decode(fJose.body.access_token).is_admin, true, 'the Flask claims loader makes user 1 an admin')
    t.equal((await call(gatehouse, 'DELETE', '/item/lamp', { token: fJose.body.access_token })).status, 200, 'Flask admin token at Gatehouse (the account is an admin there too)')
    t.equal((await call(gatehouse, 'DELETE', '/item/lamp', { token: fAnna.body.access_token })).body.error, 'admin_required')
    t.equal((await call(flask, 'DELETE', '/item/lamp', { token: gJose.body.access_token })).status, 200, 'Gatehouse admin token at Flask')
    t.equal((await call(flask, 'DELETE', '/item/lamp', { token: gAnna.body.access_token })).body.error, 'admin_required')
  })

  await t.test('cookies with the double submit, both ways', async (t) => {
    // New logins: the refresh tokens above are spent (rotation).
    const sessions = [['Gatehouse', flask, await login(gatehouse, 'anna', 'anna-old')], ['Flask', gatehouse, await login(flask, 'anna', 'anna-old')]] as const
    for (const [from, to, session] of sessions) {
      const cookies = { access_token_cookie: session.cookies.access_token_cookie }
      const csrf = session.cookies.csrf_access_token
      t.ok(csrf !== undefined && csrf.length > 0, `${from} sets csrf_access_token`)
      const refused = await call(to, 'PUT', '/item/chair', { cookies, body: { price: 2 } })
      t.equal(refused.status, 401, `a ${from} cookie without the CSRF header is refused`)
      const accepted = await call(to, 'PUT', '/item/chair', { cookies, csrf, body: { price: 2 } })
      t.ok(accepted.status === 200 || accepted.status === 201, `a ${from} cookie with the CSRF header is accepted (${accepted.status})`)
      const refreshCookies = { refresh_token_cookie: session.cookies.refresh_token_cookie }
      const refreshed = await call(to, 'POST', '/refresh', { cookies: refreshCookies, csrf: session.cookies.csrf_refresh_token })
      t.equal(refreshed.status, 200, `a ${from} refresh cookie refreshes with its CSRF header`)
    }
  })

  await t.test('an account Gatehouse does not have, and cut-offs', async (t) => {
    const late = await call(flask, 'POST', '/register', { body: { username: 'late', password: 'late-pass' } })
    t.equal(late.body.id, 3, 'a Flask user made after the import')
    const lateToken = (await login(flask, 'late', 'late-pass')).body.access_token
    const refused = await call(gatehouse, 'GET', '/item/chair', { token: lateToken })
    t.same(refused.body, { statusCode: 401, error: 'invalid_token', message: 'The account of the token does not exist.' })

    const second = Date.now() % 1000
    if (second > 300) await new Promise((resolve) => setTimeout(resolve, 1005 - second))
    const flaskToken = (await login(flask, 'anna', 'anna-old')).body.access_token
    const anna = await login(gatehouse, 'anna', 'anna-old')
    t.equal((await call(gatehouse, 'POST', '/logout/all', { token: anna.body.access_token })).status, 200)
    t.equal((await call(gatehouse, 'GET', '/item/chair', { token: flaskToken })).body.error, 'token_revoked',
      'a Flask token of the same second is cut off by /logout/all at Gatehouse')
    t.equal((await call(flask, 'GET', '/item/chair', { token: flaskToken })).status, 200, 'revocations are not shared: Flask still takes it (documented)')
  })

  await t.test('issuer and audience refuse the other side\'s tokens', async (t) => {
    const flask2 = await startFlask(t, { FLASK_DB: flaskDb, JWT_ENCODE_ISSUER: 'flask', JWT_DECODE_ISSUER: 'flask', JWT_ENCODE_AUDIENCE: 'shop', JWT_DECODE_AUDIENCE: 'shop' })
    const dir2 = tempDir(t)
    const gatehouse2 = (await startServer(t, dir2, { ...env, JWT_ENCODE_ISSUER: 'gatehouse', JWT_DECODE_ISSUER: 'gatehouse', JWT_ENCODE_AUDIENCE: 'shop', JWT_DECODE_AUDIENCE: 'shop' })).url
    const own = await login(gatehouse2, 'anna', 'anna-old')
    const theirs = await login(flask2, 'anna', 'anna-old')
    t.equal((await call(gatehouse2, 'GET', '/item/chair', { token: own.body.access_token })).status, 200, 'Gatehouse takes its own')
    t.equal((await call(flask2, 'GET', '/item/chair', { token: theirs.body.access_token })).status, 200, 'Flask takes its own')
    const atGatehouse = await call(gatehouse2, 'GET', '/item/chair', { token: theirs.body.access_token })
    t.same([atGatehouse.status, atGatehouse.body.error], [401, 'invalid_token'], 'Gatehouse refuses Flask\'s token')
    t.match(atGatehouse.body.message, /iss/)
    const atFlask = await call(flask2, 'GET', '/item/chair', { token: own.body.access_token })
    t.same([atFlask.status, atFlask.body.error], [401, 'invalid_token'], 'Flask refuses Gatehouse\'s token')
    t.equal((await call(gatehouse2, 'GET', '/item/chair', { token: gAnna.body.access_token })).body.error, 'invalid_token', 'and a token without iss')
  })
})
