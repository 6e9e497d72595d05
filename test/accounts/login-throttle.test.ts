import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, forEachStore, signUp, testDatabaseUrl, uniqueName, type StoreKind } from '../helpers'

type Test = tap.Test

/** One audit event's count in an app's /metrics. */
async function eventCount (app: App, event: string): Promise<number> {
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const match = new RegExp(`^gatehouse_security_events_total\\{event="${event}"\\} (\\d+)$`, 'm').exec(body)
  return match === null ? 0 : Number(match[1])
}

/** Password hashes the apps computed for logins: every hashed login ends as login_failed or login_succeeded. */
async function loginHashes (apps: App[]): Promise<number> {
  let total = 0
  for (const app of apps) total += await eventCount(app, 'login_failed') + await eventCount(app, 'login_succeeded')
  return total
}

const LIMITS = { LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_USERNAME: '50', LOGIN_MAX_FAILURES_PER_ADDRESS: '100', LOGIN_FAILURE_WINDOW_SECONDS: '86400' }
// A day's window: a burst that straddled the end of a window would rightly be counted in two.

/** One app, or two sharing the database and the Redis key prefix: two instances of one service. */
async function instances (t: Test, store: StoreKind, count: number, env: Record<string, string> = {}): Promise<App[]> {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const apps: App[] = []
  for (let i = 0; i < count; i++) apps.push(await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env: { ...LIMITS, ...env } }))
  return apps
}

const login = async (app: App, username: string, password: string, remoteAddress = '127.0.0.1') =>
  await app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress })

const codesOf = (responses: Array<{ statusCode: number }>): Record<number, number> => {
  const counts: Record<number, number> = {}
  for (const { statusCode } of responses) counts[statusCode] = (counts[statusCode] ?? 0) + 1
  return counts
}

forEachStore(t, async (t, store) => {
  for (const count of [1, 2]) {
    const where = count === 1 ? 'one instance' : 'two instances sharing the stores'
    await t.test(`a burst of 60 logins for one username from one address, over ${where}: at most 5 hashed, the right password last is refused`, async (t) => {
      const apps = await instances(t, store, count)
      const user = await signUp(apps[0])
      const before = await loginHashes(apps)
      const responses = await Promise.all(Array.from({ length: 60 }, async (_, i) =>
        await login(apps[i % count], user.username, i === 59 ? user.password : `wrong guess ${i}`)))
      const hashed = await loginHashes(apps) - before
      t.ok(hashed <= 5, `${hashed} hashes computed (limit 5); answers ${JSON.stringify(codesOf(responses))}`)
      t.equal(responses[59].statusCode, 429, 'the right password inside the over-limit burst is refused')
      t.ok(Number(responses[59].headers['retry-after']) >= 1, 'with Retry-After')
      t.equal(responses.filter((response) => response.statusCode === 429).length, 60 - hashed, 'every attempt not hashed is a 429')
    })

    await t.test(`a burst of 200 logins over distinct usernames from one address, over ${where}: at most 100 hashed`, async (t) => {
      const apps = await instances(t, store, count)
      const responses = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
        await login(apps[i % count], uniqueName('spray'), 'a guess', '10.20.30.40')))
      const hashed = await loginHashes(apps)
      t.ok(hashed <= 100, `${hashed} hashes computed (limit 100); answers ${JSON.stringify(codesOf(responses))}`)
      t.ok(hashed >= 90, 'the allowed attempts are answered, not refused')
    })

    await t.test(`a burst of 200 logins for one username from 200 addresses, over ${where}: at most 50 hashed`, async (t) => {
      const apps = await instances(t, store, count)
      const user = await signUp(apps[0])
      const before = await loginHashes(apps)
      const responses = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
        await login(apps[i % count], user.username, i === 199 ? user.password : 'a guess', `10.1.${i >> 8}.${i & 255}`)))
      const hashed = await loginHashes(apps) - before
      t.ok(hashed <= 50, `${hashed} hashes computed (limit 50 per username); answers ${JSON.stringify(codesOf(responses))}`)
      t.equal(responses[199].statusCode, 429, 'the right password inside the over-limit burst is refused')
    })
  }

  await t.test("PUT /user/:id/password: a burst of 60 old-password guesses checks at most 5; the right one inside it is refused", async (t) => {
    const [app] = await instances(t, store, 1)
    const user = await signUp(app)
    const change = async (oldPassword: string) => await app.inject({
      method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: oldPassword, new_password: 'a brand new secret' }
    })
    const responses = await Promise.all(Array.from({ length: 60 }, async (_, i) => await change(i === 59 ? user.password : `wrong guess ${i}`)))
    const checked = responses.filter((response) => response.statusCode !== 429).length
    t.ok(checked <= 5, `${checked} old passwords checked (limit 5); answers ${JSON.stringify(codesOf(responses))}`)
    t.equal(responses[59].statusCode, 429, 'the right old password inside the burst is refused')
  })

  await t.test('lockout: an attacker on one address cannot lock out the owner on another', async (t) => {
    const [app] = await instances(t, store, 1)
    const user = await signUp(app)
    for (let i = 0; i < 5; i++) t.equal((await login(app, user.username, 'wrong', '10.0.0.66')).statusCode, 401)
    for (let i = 0; i < 10; i++) t.equal((await login(app, user.username, 'wrong', '10.0.0.66')).statusCode, 429, 'the attacker is held back')
    t.equal((await login(app, user.username, user.password, '10.0.0.66')).statusCode, 429, 'even with the right password, from that address')
    t.equal((await login(app, user.username, user.password, '10.0.0.7')).statusCode, 200, 'the owner logs in from elsewhere')

    // The IPv4-mapped spelling of the attacker's address is the same address.
    const other = await signUp(app)
    for (let i = 0; i < 3; i++) t.equal((await login(app, other.username, 'wrong', '10.0.0.99')).statusCode, 401)
    for (let i = 0; i < 2; i++) t.equal((await login(app, other.username, 'wrong', '::ffff:10.0.0.99')).statusCode, 401)
    t.equal((await login(app, other.username, 'wrong', '::ffff:10.0.0.99')).statusCode, 429, '::ffff:a.b.c.d counts as a.b.c.d')
    t.equal((await login(app, other.username, 'wrong', '10.0.0.99')).statusCode, 429)

    // An IPv6 attacker rotating through their /64 is one client; the owner in another /64 is not held back.
    const third = await signUp(app)
    for (let i = 1; i <= 5; i++) t.equal((await login(app, third.username, 'wrong', `2001:db8:1:2::${i}`)).statusCode, 401)
    t.equal((await login(app, third.username, 'wrong', '2001:db8:1:2:ffff:1:2:3')).statusCode, 429, 'the same /64')
    t.equal((await login(app, third.username, third.password, '2001:db8:1:3::1')).statusCode, 200, 'another /64')
  })

  await t.test('lockout: per username over all addresses at the higher limit', async (t) => {
    const [app] = await instances(t, store, 1)
    const user = await signUp(app)
    for (let a = 0; a < 9; a++) {
      for (let i = 0; i < 5; i++) t.equal((await login(app, user.username, 'wrong', `10.5.0.${a}`)).statusCode, 401)
    }
    t.equal((await login(app, user.username, user.password, '10.6.0.1')).statusCode, 200, '45 distributed failures: the owner still gets in')
    for (let a = 10; a < 15; a++) await login(app, user.username, 'wrong', `10.5.0.${a}`)
    const locked = await login(app, user.username, user.password, '10.6.0.2')
    t.equal(locked.statusCode, 429, 'past 50 failures over all addresses the username waits (the documented trade-off)')
  })

  await t.test('lockout: per address over all usernames, an IPv6 /64 as one address', async (t) => {
    const [app] = await instances(t, store, 1, { LOGIN_MAX_FAILURES_PER_ADDRESS: '6' })
    for (let i = 1; i <= 6; i++) t.equal((await login(app, uniqueName(), 'guess', `2001:db8:aa:bb::${i}`)).statusCode, 401)
    const user = await signUp(app)
    t.equal((await login(app, user.username, user.password, '2001:db8:aa:bb::99')).statusCode, 429, 'the whole /64 is held back')
    t.equal((await login(app, user.username, user.password, '2001:db8:aa:bc::1')).statusCode, 200, 'the next /64 is not')
  })

  await t.test('/register is throttled per client address', async (t) => {
    const [app] = await instances(t, store, 1, { REGISTER_MAX_PER_ADDRESS: '3', REGISTER_WINDOW_SECONDS: '86400' })
    const register = async (remoteAddress: string) =>
      await app.inject({ method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' }, remoteAddress })
    const burst = await Promise.all(Array.from({ length: 20 }, async () => await register('10.7.7.7')))
    t.equal(burst.filter((response) => response.statusCode === 201).length, 3, `3 accounts created of ${JSON.stringify(codesOf(burst))}`)
    const refused = burst.find((response) => response.statusCode === 429)
    t.equal(refused?.json().error, 'too_many_requests')
    t.ok(Number(refused?.headers['retry-after']) >= 1 && Number(refused?.headers['retry-after']) <= 86400, 'with Retry-After')
    t.equal((await register('10.7.7.8')).statusCode, 201, 'another address may register')
  })
})
