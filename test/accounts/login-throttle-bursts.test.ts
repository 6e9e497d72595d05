import t from 'tap'
import { forEachStore, signUp } from '../helpers'
import { loginHashes, throttledInstances, loginFrom, statusCounts } from '../helpers/login-attempts'

/**
 * `size` concurrent requests; the last one is sent once the others have all been counted or
 * refused (`refused` of them answered 429), while the allowed ones' hashes are still in line, so it
 * comes after the limit is reserved whichever instance the others went through. (Before the
 * throttle counted attempts in flight nothing was refused: it was sent after 5 s at most.)
 */
async function burst<T extends { statusCode: number }> (size: number, refused: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const answered: T[] = []
  const first = Array.from({ length: size - 1 }, async (_, i) => { const response = await send(i); answered.push(response); return response })
  const deadline = Date.now() + 5000
  while (answered.filter((response) => response.statusCode === 429).length < refused && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return await Promise.all([...first, send(size - 1)])
}

forEachStore(t, async (t, store) => {
  for (const count of [1, 2]) {
    const where = count === 1 ? 'one instance' : 'two instances sharing the stores'
    await t.test(`a burst of 60 logins for one username from one address, over ${where}: at most 5 hashed, the right password last is refused`, async (t) => {
      const apps = await throttledInstances(t, store, count)
      const user = await signUp(apps[0])
      const before = await loginHashes(apps)
      const responses = await burst(60, 59 - 5, async (i) => await loginFrom(apps[i % count], user.username, i === 59 ? user.password : `wrong guess ${i}`))
      const hashed = await loginHashes(apps) - before
      t.ok(hashed <= 5, `${hashed} hashes computed (limit 5); answers ${JSON.stringify(statusCounts(responses))}`)
      t.equal(responses[59].statusCode, 429, 'the right password inside the over-limit burst is refused')
      t.ok(Number(responses[59].headers['retry-after']) >= 1, 'with Retry-After')
      t.equal(responses.filter((response) => response.statusCode === 429).length, 60 - hashed, 'every attempt not hashed is a 429')
    })

    await t.test(`a burst of 200 logins for one username from 200 addresses, over ${where}: at most 50 hashed`, async (t) => {
      const apps = await throttledInstances(t, store, count)
      const user = await signUp(apps[0])
      const before = await loginHashes(apps)
      const responses = await burst(200, 199 - 50, async (i) =>
        await loginFrom(apps[i % count], user.username, i === 199 ? user.password : 'a guess', `10.1.${i >> 8}.${i & 255}`))
      const hashed = await loginHashes(apps) - before
      t.ok(hashed <= 50, `${hashed} hashes computed (limit 50 per username); answers ${JSON.stringify(statusCounts(responses))}`)
      t.equal(responses[199].statusCode, 429, 'the right password inside the over-limit burst is refused')
    })
  }
})
