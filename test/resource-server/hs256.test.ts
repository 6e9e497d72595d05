import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { decode, flaskClaims, forge, requireRedis, SECRET, tempDir, TEST_REDIS_URL } from '../helpers'
import { cli } from '../helpers/cli-process'
import { call } from '../helpers/http-call'
import { startHost } from '../helpers/resource-host'
import { startServer } from '../helpers/server-process'

// A host service protected by gatehouse/resource-server beside a built Gatehouse on the shared Redis,
// under one random key prefix: every way Gatehouse ends a token is honoured by the host's very next request.
t.test('HS256: the host honours Gatehouse\'s tokens and every revocation at once', async (t) => {
  if (!await requireRedis(t)) return
  const prefix = `gatehouse-rs-test:${randomUUID()}:`
  const env = {
    DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`,
    JWT_SECRET_KEY: SECRET,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix
  }
  const gatehouse = await startServer(t, tempDir(t), env)
  const host = await startHost(t, { secret: SECRET, redisUrl: TEST_REDIS_URL, redisKeyPrefix: prefix })

  const password = 'correct horse battery'
  async function signUp (username: string): Promise<number> {
    const answer = await call(gatehouse.url, '/register', { method: 'POST', body: { username, password } })
    t.equal(answer.status, 201)
    return answer.json.id
  }
  async function logIn (username: string, secret = password): Promise<{ access: string, refresh: string }> {
    const answer = await call(gatehouse.url, '/login', { method: 'POST', body: { username, password: secret } })
    t.equal(answer.status, 200, `${username} logs in`)
    return { access: answer.json.access_token, refresh: answer.json.refresh_token }
  }

  const alice = await signUp('alice')
  let session = await logIn('alice')
  t.same((await host.get('/me', session.access)).body, { sub: String(alice), is_admin: false }, 'a token from /login works')
  t.equal((await host.get('/fresh', session.access)).statusCode, 200, 'a login token is fresh')
  t.same(await host.get('/admin', session.access), {
    statusCode: 403, error: 'admin_required', wwwAuthenticate: undefined, body: { statusCode: 403, error: 'admin_required', message: 'Admin privilege required.' }
  })
  t.same((await host.get('/maybe')).body, { sub: null }, 'optional: anonymous passes')
  t.same((await host.get('/maybe', session.access)).body, { sub: String(alice) })
  t.same((await host.get('/open')).body, { open: true })

  t.test('failures answer as Gatehouse answers them', async (t) => {
    const refreshed = await call(gatehouse.url, '/refresh', { method: 'POST', token: session.refresh })
    const notFresh = refreshed.json.access_token as string
    session = { access: notFresh, refresh: refreshed.json.refresh_token }
    const cases: Array<[string, string | undefined, string]> = [
      ['no token', undefined, 'authorization_required'],
      ['a forged signature', forge(flaskClaims(alice), { secret: 'x'.repeat(64) }), 'invalid_token'],
      ['expired', forge(flaskClaims(alice, { iat: 1, nbf: 1, exp: 2 })), 'token_expired'],
      ['a refresh token', session.refresh, 'wrong_token_type'],
      ['malformed', 'not-a-jwt', 'invalid_token'],
      ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(flaskClaims(alice))).toString('base64url')}.`, 'invalid_token'],
      ['a missing claim', forge({ ...flaskClaims(alice), jti: undefined }), 'invalid_token']
    ]
    for (const [what, token, error] of cases) {
      const atGatehouse = await call(gatehouse.url, `/user/${alice}`, { token })
      const atHost = await host.get('/me', token)
      t.equal(atHost.error, error, what)
      t.same([atHost.statusCode, atHost.error, atHost.body.message, atHost.wwwAuthenticate],
        [atGatehouse.status, atGatehouse.json.error, atGatehouse.json.message, atGatehouse.headers['www-authenticate']], `${what}: as at Gatehouse`)
    }
    // requireFresh: Gatehouse's password change is a requireFresh route; onRequest refuses before the body is read.
    const atGatehouse = await call(gatehouse.url, `/user/${alice}/password`, { method: 'PUT', token: notFresh, body: {} })
    const atHost = await host.get('/fresh', notFresh)
    t.same([atHost.statusCode, atHost.error, atHost.wwwAuthenticate], [atGatehouse.status, atGatehouse.json.error, atGatehouse.headers['www-authenticate']])
    t.equal(atHost.error, 'fresh_token_required')
    t.equal((await host.get('/me', notFresh)).statusCode, 200, 'a refreshed token is an access token still')
    t.equal((await host.get('/maybe', forge(flaskClaims(alice), { secret: 'y'.repeat(64) }))).error, 'invalid_token', 'optional: a bad token is still refused')
  })

  t.test('logout ends the token and its session', async (t) => {
    const first = await logIn('alice')
    const refreshed = await call(gatehouse.url, '/refresh', { method: 'POST', token: first.refresh })
    const sameSession = refreshed.json.access_token as string
    const other = await logIn('alice')
    t.equal((await host.get('/me', first.access)).statusCode, 200)
    t.equal((await call(gatehouse.url, '/logout', { method: 'POST', token: sameSession })).status, 200)
    t.equal((await host.get('/me', sameSession)).error, 'token_revoked', 'the token logged out with')
    t.equal((await host.get('/me', first.access)).error, 'token_revoked', 'the session ended: its other access token too')
    t.equal((await host.get('/maybe', first.access)).error, 'token_revoked', 'optional routes too')
    t.equal((await host.get('/me', other.access)).statusCode, 200, 'another session goes on')
  })

  t.test('logout everywhere', async (t) => {
    const one = await logIn('alice')
    const two = await logIn('alice')
    t.equal((await call(gatehouse.url, '/logout/all', { method: 'POST', token: one.access })).status, 200)
    t.equal((await host.get('/me', two.access)).error, 'token_revoked')
    const after = await logIn('alice')
    t.equal((await host.get('/me', after.access)).statusCode, 200, 'a later login works')
  })

  t.test('a password change', async (t) => {
    const before = await logIn('alice')
    const other = await logIn('alice')
    const changed = await call(gatehouse.url, `/user/${alice}/password`, {
      method: 'PUT', token: before.access, body: { old_password: password, new_password: 'a brand new password' }
    })
    t.equal(changed.status, 200)
    t.equal((await host.get('/me', other.access)).error, 'token_revoked')
    t.equal((await host.get('/me', before.access)).error, 'token_revoked')
    t.equal((await host.get('/me', changed.json.access_token)).statusCode, 200, 'the pair it answers works')
    t.equal((await call(gatehouse.url, `/user/${alice}/password`, {
      method: 'PUT', token: changed.json.access_token, body: { old_password: 'a brand new password', new_password: password }
    })).status, 200)
  })

  t.test('a demotion ends the demoted admin\'s sessions', async (t) => {
    const cliEnv = { DATABASE_URL: env.DATABASE_URL, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix }
    t.equal((await cli(cliEnv, ['user', 'create', 'boss', '--admin'], `${password}\n`)).code, 0)
    const boss = await logIn('boss')
    t.equal(decode(boss.access).is_admin, true)
    t.equal((await host.get('/admin', boss.access)).statusCode, 200, 'an admin token passes requireAdmin')
    const demoted = await cli(cliEnv, ['user', 'set-admin', 'boss', 'off'])
    t.equal(demoted.code, 0, demoted.stderr)
    t.match(demoted.stdout, /every session .*ended/)
    t.equal((await host.get('/admin', boss.access)).error, 'token_revoked', 'the admin token stops at the very next request')
    t.equal((await host.get('/me', boss.access)).error, 'token_revoked')
    const again = await logIn('boss')
    t.equal(decode(again.access).is_admin, false, 'a new login carries no admin claim')
    t.equal((await host.get('/admin', again.access)).error, 'admin_required')
    t.equal((await host.get('/me', again.access)).statusCode, 200)
    t.equal((await cli(cliEnv, ['user', 'set-admin', 'boss', 'off'])).code, 0)
    t.equal((await host.get('/me', again.access)).statusCode, 200, 'clearing a flag already clear ends nothing')
  })

  t.test('a deletion', async (t) => {
    const bob = await signUp('bob')
    const tokens = await logIn('bob')
    t.equal((await host.get('/me', tokens.access)).statusCode, 200)
    t.equal((await call(gatehouse.url, `/user/${bob}`, { method: 'DELETE', token: tokens.access })).status, 200)
    t.equal((await host.get('/me', tokens.access)).error, 'token_revoked')
  })
})
