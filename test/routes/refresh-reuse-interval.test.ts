import t from 'tap'
import { forEachDatabase, forEachStore, signUp } from '../helpers'
import { refresh, sleep, twoInstances } from '../helpers/sessions'

// The interval's end: retries do not move it. Refreshes within and after it are in refresh-retries.test.ts,
// the answer kept for retries in refresh-answers.test.ts.
forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('retries do not extend the interval', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '2' })
      const user = await signUp(a)
      const first = await refresh(a, user.refresh)
      t.equal(first.statusCode, 200)
      for (let i = 0; i < 3; i++) {
        await sleep(500)
        t.same((await refresh(i % 2 === 0 ? b : a, user.refresh)).json(), first.json(), `retry ${i + 1} within the interval`)
      }
      await sleep(700)
      t.equal((await refresh(b, user.refresh)).json().error, 'token_revoked', '2.2 s after the first spend: reuse, whatever the retries')
    })
  })
})
