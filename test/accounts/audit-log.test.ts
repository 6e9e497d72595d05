import t from 'tap'
import { buildApp } from '../../src/app'
import { bearer, forEachStore, SECRET, testConfig, testDatabaseUrl } from '../helpers'

forEachStore(t, async (t, store) => {
  const lines: string[] = []
  const config = testConfig(t, { store, databaseUrl: await testDatabaseUrl(t, 'sqlite'), env: { LOG_LEVEL: 'info', JWT_REFRESH_REUSE_INTERVAL: '0' } })
  const app = await buildApp(config, { logger: { level: 'info', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(async () => { await app.close() })

  const secrets: string[] = [SECRET]
  const password = 'hunter2 but longer'
  const newPassword = 'an even better password'
  secrets.push(password, newPassword)
  const post = async (url: string, payload?: unknown, token?: string) =>
    await app.inject({ method: 'POST', url, payload: payload as object, headers: token === undefined ? {} : bearer(token) })

  const id = (await post('/register', { username: 'audited', password })).json().id
  await post('/login', { username: 'audited', password: 'wrong and secret-ish' })
  secrets.push('wrong and secret-ish')
  const first = (await post('/login', { username: 'audited', password })).json()
  const second = (await post('/login', { username: 'audited', password })).json()
  await post('/login/fresh', { password: 'wrong and secret-ish' }, first.access_token)
  const fresh = (await post('/login/fresh', { password }, first.access_token)).json()
  const rotated = (await post('/refresh', undefined, first.refresh_token)).json()
  await post('/refresh', undefined, first.refresh_token)
  await post('/logout', undefined, second.access_token)
  const third = (await post('/login', { username: 'audited', password })).json()
  const fourth = (await post('/login', { username: 'audited', password })).json()
  const fourthSession = JSON.parse(Buffer.from(fourth.access_token.split('.')[1], 'base64url').toString()).sid as string
  await app.inject({ method: 'DELETE', url: `/sessions/${fourthSession}`, headers: bearer(third.access_token) })
  const changed = (await app.inject({
    method: 'PUT', url: `/user/${id}/password`, headers: bearer(third.access_token), payload: { old_password: password, new_password: newPassword }
  })).json()
  await post('/logout/all', undefined, changed.access_token)
  const last = (await post('/login', { username: 'audited', password: newPassword })).json()
  await app.inject({ method: 'DELETE', url: `/user/${id}`, headers: bearer(last.access_token) })
  for (const pair of [first, second, fresh, rotated, third, fourth, changed, last]) {
    for (const token of [pair.access_token, pair.refresh_token]) if (token !== undefined) secrets.push(token)
  }

  const records = lines.map((line) => JSON.parse(line))
  const events = records.filter((record) => record.audit === true)
  t.same(events.map((event) => event.event), [
    'user_registered', 'login_failed', 'login_succeeded', 'login_succeeded', 'fresh_login_failed', 'fresh_login_succeeded',
    'refresh_reuse_detected', 'logout', 'login_succeeded', 'login_succeeded', 'session_revoked', 'password_changed', 'sessions_revoked',
    'login_succeeded', 'user_deleted'
  ])
  t.match(events.find((event) => event.event === 'session_revoked'), { session_id: fourthSession, actor_id: String(id), reason: 'user' },
    'session_revoked names the session ended and who ended it')
  for (const event of events) {
    t.equal(event.client, '127.0.0.1', `${event.event} names the client address`)
    t.type(event.reqId, 'string', `${event.event} carries the request id`)
    if (event.event !== 'login_failed') t.equal(event.user_id, String(id), `${event.event} names the user`)
    if (event.event === 'user_registered') t.equal(event.username, 'audited', 'registration names the new account')
  }
  const log = lines.join('')
  t.ok(secrets.length > 10)
  for (const secret of secrets) t.notOk(log.includes(secret), 'no password, token or secret in the log')
  t.notOk(/eyJ[A-Za-z0-9_-]{10,}/.test(log), 'nothing shaped like a JWT in the log')
  t.notOk(/\$argon2/.test(log), 'no password hash in the log')
})
