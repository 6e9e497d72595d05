import t from 'tap'
import { forEachStore, uniqueName } from '../helpers'
import { loginHashes, throttledInstances, loginFrom, statusCounts } from '../helpers/login-attempts'

forEachStore(t, async (t, store) => {
  for (const count of [1, 2]) {
    const where = count === 1 ? 'one instance' : 'two instances sharing the stores'
    await t.test(`a burst of 200 logins over distinct usernames from one address, over ${where}: at most 100 hashed`, async (t) => {
      const apps = await throttledInstances(t, store, count)
      const responses = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
        await loginFrom(apps[i % count], uniqueName('spray'), 'a guess', '10.20.30.40')))
      const hashed = await loginHashes(apps)
      t.ok(hashed <= 100, `${hashed} hashes computed (limit 100); answers ${JSON.stringify(statusCounts(responses))}`)
      t.ok(hashed >= 90, 'the allowed attempts are answered, not refused')
    })
  }
})
