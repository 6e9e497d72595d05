import t from 'tap'
import { buildTestApp, forEachDatabase, forEachStore, signUp, uniqueName } from '../helpers'

// Each combination waits for a fresh window and then for its end, mostly idle: they wait at the same time.
forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('failed logins are throttled per (username, address), per username and per address, for a bounded time', async (t) => {
      const app = await buildTestApp(t, {
        database, store,
        env: { LOGIN_MAX_FAILURES: '3', LOGIN_MAX_FAILURES_PER_USERNAME: '7', LOGIN_MAX_FAILURES_PER_ADDRESS: '6', LOGIN_FAILURE_WINDOW_SECONDS: '5' }
      })
      const user = await signUp(app)
      const login = async (username: string, password: string, remoteAddress = '127.0.0.1') =>
        await app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress })

      // Wait for the start of a fresh window so the whole sequence falls inside one.
      const nextWindow = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 5000 - (Date.now() % 5000) + 20)) }
      await nextWindow()
      t.equal((await login(user.username, 'wrong 1')).statusCode, 401)
      t.equal((await login(user.username, 'wrong 2')).statusCode, 401)
      t.equal((await login(user.username, user.password)).statusCode, 200, "a success resets its own address's count (not the username's)")
      for (let i = 0; i < 3; i++) t.equal((await login(user.username, `wrong ${i}`)).statusCode, 401)
      const throttled = await login(user.username, user.password)
      t.equal(throttled.statusCode, 429, 'even the right password waits')
      t.same(throttled.json(), { statusCode: 429, error: 'too_many_requests', message: 'Too many failed login attempts; try again later.' })
      t.ok(Number(throttled.headers['retry-after']) >= 1 && Number(throttled.headers['retry-after']) <= 5, 'Retry-After within the window')
      t.equal((await login(user.username, 'wrong 3', '10.9.9.9')).statusCode, 401, 'another address has its own count')
      t.equal((await login(user.username, 'wrong 4', '10.9.9.8')).statusCode, 401)
      t.equal((await login(user.username, user.password, '10.9.9.7')).statusCode, 429, 'per username, over all addresses, at the higher limit')

      const sprayer = '10.1.1.1'
      for (let i = 0; i < 6; i++) t.equal((await login(uniqueName(), 'guess', sprayer)).statusCode, 401)
      const other = await signUp(app)
      t.equal((await login(other.username, other.password, sprayer)).statusCode, 429, 'per address, over all usernames')
      t.equal((await login(other.username, other.password)).statusCode, 200, 'other addresses are not held back')

      await nextWindow()
      t.equal((await login(user.username, user.password)).statusCode, 200, 'the lock ends with its window')
    })
  }, { concurrently: true })
}, { concurrently: true })
