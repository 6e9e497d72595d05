import { spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers'
import { SERVER, startServer as startBuiltServer } from '../helpers/server-process'

// A short drain: these tests are about a clean exit, test/shutdown.test.ts about the drain.
const startServer = async (t: tap.Test, cwd: string): ReturnType<typeof startBuiltServer> =>
  await startBuiltServer(t, cwd, { SHUTDOWN_DRAIN_MS: '100' })

async function call (url: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number, json: any, headers: Headers }> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const response = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: response.status, json: await response.json(), headers: response.headers }
}

t.test('npm start with nothing configured: a whole flow over a real socket, then a restart', async (t) => {
  t.ok(existsSync(SERVER), 'the server is built (npm run build)')
  const cwd = tempDir(t)
  const password = 'socket-flow password'
  const first = await startServer(t, cwd)

  const secretFile = join(cwd, 'data', 'jwt-secret')
  t.equal(statSync(secretFile).mode & 0o777, 0o600, 'a secret was generated into ./data, mode 0600')
  t.match(first.output(), /"level":40.*JWT_SECRET_KEY is not set/, 'with a warning in the log')
  t.ok(existsSync(join(cwd, 'data', 'gatehouse.db')), 'the SQLite database lives under ./data')

  const url = first.url
  t.equal((await call(url, 'POST', '/register', undefined, { username: 'socket_user', password })).status, 201)
  const login = await call(url, 'POST', '/login', undefined, { username: 'socket_user', password })
  t.equal(login.status, 200)
  const { access_token: access, refresh_token: refresh } = login.json
  t.equal((await call(url, 'POST', '/item/socket', access, { price: 3 })).status, 201)
  t.same((await call(url, 'GET', '/items', access)).json.items.map((i: { name: string }) => i.name), ['socket'])
  const refreshed = await call(url, 'POST', '/refresh', refresh)
  t.equal(refreshed.status, 200)
  const noToken = await call(url, 'GET', '/item/socket')
  t.equal(noToken.status, 401)
  t.equal(noToken.headers.get('www-authenticate'), 'Bearer')
  t.equal((await call(url, 'GET', '/health/ready')).status, 200)

  // A second login stays valid across the restart; the first is logged out before it.
  const kept = (await call(url, 'POST', '/login', undefined, { username: 'socket_user', password })).json
  t.equal((await call(url, 'POST', '/logout', access)).status, 200)
  t.equal((await call(url, 'GET', '/item/socket', access)).json.error, 'token_revoked')

  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'SIGTERM ends the process cleanly')
  const log = first.output()
  for (const secret of [password, access, refresh, kept.access_token]) {
    t.notOk(log.includes(secret), 'the log holds no password or token')
  }

  const second = await startServer(t, cwd)
  t.match(second.output(), /JWT_SECRET_KEY is not set/)
  t.notMatch(second.output(), /migration applied/, 'the schema is already current')
  t.equal((await call(second.url, 'GET', '/item/socket', kept.access_token)).status, 200, 'same secret, same data')
  t.equal((await call(second.url, 'POST', '/refresh', refresh)).json.error, 'token_revoked', 'revocations survive')
  second.child.kill('SIGINT')
  t.equal(await second.exited, 0, 'SIGINT ends the process cleanly')
})

t.test('a bad setting stops the start with a clear message', async (t) => {
  const cwd = tempDir(t)
  for (const [env, expected] of [
    [{ JWT_SECRET_KEY: 'short' }, /JWT_SECRET_KEY: must be at least 32 bytes/],
    [{ PORT: 'http' }, /PORT: must be a whole number/],
    [{ ADMIN_USERNAMES: 'admin', JWT_SECRET_KEY: 'x'.repeat(32) }, /ADMIN_USERNAMES: no longer supported[\s\S]*gatehouse user set-admin <name> on/],
    [{ REDIS_URL: 'redis://127.0.0.1:1', JWT_SECRET_KEY: 'x'.repeat(32) }, /Redis at redis:\/\/127\.0\.0\.1:1 did not answer: connect ECONNREFUSED/]
  ] as const) {
    const child = spawn(process.execPath, [SERVER], { cwd, env: { PATH: process.env.PATH ?? '', PORT: '0', DATA_DIR: join(cwd, 'data'), ...env } })
    let output = ''
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    t.equal(code, 1)
    t.match(output, expected)
  }
})
