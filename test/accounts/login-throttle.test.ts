import t from 'tap'
import { bearer, forEachStore, signUp, uniqueName } from '../helpers'
import { loginHashes, throttledInstances, loginFrom, statusCounts } from '../helpers/login-attempts'

forEachStore(t, async (t, store) => {
  await t.test('a success inside a burst clears earlier failures, not the ones still in flight', async (t) => {
    const [app] = await throttledInstances(t, store, 1, { PASSWORD_HASH_CONCURRENCY: '1' })
    const user = await signUp(app)
    const before = await loginHashes([app])
    const first = await Promise.all(Array.from({ length: 60 }, async (_, i) => await loginFrom(app, user.username, i === 0 ? user.password : `wrong guess ${i}`)))
    t.equal(first[0].statusCode, 200, 'the right password, first in line, gets in')
    const second = await Promise.all(Array.from({ length: 60 }, async (_, i) => await loginFrom(app, user.username, `wrong again ${i}`)))
    const hashed = await loginHashes([app]) - before
    t.ok(hashed <= 6, `${hashed} hashes over both bursts (5, then the 1 left by the 4 failures that were in flight at the success); ` +
      `answers ${JSON.stringify(statusCounts(first))} then ${JSON.stringify(statusCounts(second))}`)
  })

  await t.test('PUT /user/:id/password: a burst of 60 old-password guesses checks at most 5; the right one inside it is refused', async (t) => {
    const [app] = await throttledInstances(t, store, 1)
    const user = await signUp(app)
    const change = async (oldPassword: string) => await app.inject({
      method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: oldPassword, new_password: 'a brand new secret' }
    })
    const responses = await Promise.all(Array.from({ length: 60 }, async (_, i) => await change(i === 59 ? user.password : `wrong guess ${i}`)))
    const checked = responses.filter((response) => response.statusCode !== 429).length
    t.ok(checked <= 5, `${checked} old passwords checked (limit 5); answers ${JSON.stringify(statusCounts(responses))}`)
    t.equal(responses[59].statusCode, 429, 'the right old password inside the burst is refused')
  })

  await t.test('lockout: an attacker on one address cannot lock out the owner on another', async (t) => {
    const [app] = await throttledInstances(t, store, 1)
    const user = await signUp(app)
    for (let i = 0; i < 5; i++) t.equal((await loginFrom(app, user.username, 'wrong', '10.0.0.66')).statusCode, 401)
    for (let i = 0; i < 10; i++) t.equal((await loginFrom(app, user.username, 'wrong', '10.0.0.66')).statusCode, 429, 'the attacker is held back')
    t.equal((await loginFrom(app, user.username, user.password, '10.0.0.66')).statusCode, 429, 'even with the right password, from that address')
    t.equal((await loginFrom(app, user.username, user.password, '10.0.0.7')).statusCode, 200, 'the owner logs in from elsewhere')

    // The IPv4-mapped spelling of the attacker's address is the same address.
    const other = await signUp(app)
    for (let i = 0; i < 3; i++) t.equal((await loginFrom(app, other.username, 'wrong', '10.0.0.99')).statusCode, 401)
    for (let i = 0; i < 2; i++) t.equal((await loginFrom(app, other.username, 'wrong', '::ffff:10.0.0.99')).statusCode, 401)
    t.equal((await loginFrom(app, other.username, 'wrong', '::ffff:10.0.0.99')).statusCode, 429, '::ffff:a.b.c.d counts as a.b.c.d')
    t.equal((await loginFrom(app, other.username, 'wrong', '10.0.0.99')).statusCode, 429)

    // An IPv6 attacker rotating through their /64 is one client; the owner in another /64 is not held back.
    const third = await signUp(app)
    for (let i = 1; i <= 5; i++) t.equal((await loginFrom(app, third.username, 'wrong', `2001:db8:1:2::${i}`)).statusCode, 401)
    t.equal((await loginFrom(app, third.username, 'wrong', '2001:db8:1:2:ffff:1:2:3')).statusCode, 429, 'the same /64')
    t.equal((await loginFrom(app, third.username, third.password, '2001:db8:1:3::1')).statusCode, 200, 'another /64')
  })

  await t.test('lockout: per username over all addresses at the higher limit', async (t) => {
    const [app] = await throttledInstances(t, store, 1)
    const user = await signUp(app)
    for (let a = 0; a < 9; a++) {
      for (let i = 0; i < 5; i++) t.equal((await loginFrom(app, user.username, 'wrong', `10.5.0.${a}`)).statusCode, 401)
    }
    t.equal((await loginFrom(app, user.username, user.password, '10.6.0.1')).statusCode, 200, '45 distributed failures: the owner still gets in')
    for (let a = 10; a < 15; a++) await loginFrom(app, user.username, 'wrong', `10.5.0.${a}`)
    const locked = await loginFrom(app, user.username, user.password, '10.6.0.2')
    t.equal(locked.statusCode, 429, 'past 50 failures over all addresses the username waits (the documented trade-off)')
  })

  await t.test('lockout: per address over all usernames, an IPv6 /64 as one address', async (t) => {
    const [app] = await throttledInstances(t, store, 1, { LOGIN_MAX_FAILURES_PER_ADDRESS: '6' })
    for (let i = 1; i <= 6; i++) t.equal((await loginFrom(app, uniqueName(), 'guess', `2001:db8:aa:bb::${i}`)).statusCode, 401)
    const user = await signUp(app)
    t.equal((await loginFrom(app, user.username, user.password, '2001:db8:aa:bb::99')).statusCode, 429, 'the whole /64 is held back')
    t.equal((await loginFrom(app, user.username, user.password, '2001:db8:aa:bc::1')).statusCode, 200, 'the next /64 is not')
  })

  await t.test('/register is throttled per client address', async (t) => {
    const [app] = await throttledInstances(t, store, 1, { REGISTER_MAX_PER_ADDRESS: '3', REGISTER_WINDOW_SECONDS: '86400' })
    const register = async (remoteAddress: string) =>
      await app.inject({ method: 'POST', url: '/register', payload: { username: uniqueName(), password: 'correct horse battery' }, remoteAddress })
    const burst = await Promise.all(Array.from({ length: 20 }, async () => await register('10.7.7.7')))
    t.equal(burst.filter((response) => response.statusCode === 201).length, 3, `3 accounts created of ${JSON.stringify(statusCounts(burst))}`)
    const refused = burst.find((response) => response.statusCode === 429)
    t.equal(refused?.json().error, 'too_many_requests')
    t.ok(Number(refused?.headers['retry-after']) >= 1 && Number(refused?.headers['retry-after']) <= 86400, 'with Retry-After')
    t.equal((await register('10.7.7.8')).statusCode, 201, 'another address may register')
  })
})
