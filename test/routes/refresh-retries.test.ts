import t from 'tap'
import type { App } from '../../src/app'
import { bearer, decode, forEachDatabase, forEachStore, signUp } from '../helpers'
import { itemsStatus, refresh, sleep, twoInstances } from '../helpers/sessions'

// Refreshes with one token on two instances: within the reuse interval, after it, and with none. That
// retries do not extend it is in refresh-reuse-interval.test.ts, the answer kept for retries in refresh-answers.test.ts.

/** Refresh tokens minted by an instance so far, from its own /metrics. */
async function refreshTokensIssued (app: App): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  return Number(/^gatehouse_tokens_issued_total\{type="refresh"\} (\d+)$/m.exec(text)?.[1] ?? 0)
}

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('20 concurrent refreshes with one token, on two instances, within the interval: one pair minted, every answer that pair', async (t) => {
      const [a, b] = await twoInstances(t, database, store)
      const user = await signUp(a)
      const before = await refreshTokensIssued(a) + await refreshTokensIssued(b)
      const responses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, user.refresh)))
      t.same(responses.map((response) => response.statusCode), Array(20).fill(200), 'every request answers 200')
      const pair = responses[0].json()
      t.match(pair, { access_token: String, refresh_token: String })
      for (const response of responses) t.same(response.json(), pair, 'the identical pair')
      t.equal(await refreshTokensIssued(a) + await refreshTokensIssued(b) - before, 1, 'exactly one refresh token minted, over both instances')
      t.equal(responses[0].headers['cache-control'], 'no-store')
      t.equal(decode(pair.access_token).sid, decode(user.refresh).sid, 'in the same session')

      t.equal(await itemsStatus(b, pair.access_token), 200, 'the pair works')
      t.equal(await itemsStatus(a, user.access), 200, 'and the session goes on: no reuse was detected')
      const next = await refresh(b, pair.refresh_token)
      t.equal(next.statusCode, 200, 'its refresh token is the next in the chain')
      const sessions = (await a.inject({ method: 'GET', url: '/sessions', headers: bearer(next.json().access_token) })).json().sessions
      t.equal(sessions.length, 1, 'no second branch of the session')
    })

    await t.test('after the interval, presenting the spent token is reuse: the session ends, on every instance', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '1' })
      const user = await signUp(a)
      const first = await refresh(a, user.refresh)
      t.equal(first.statusCode, 200)
      const retry = await refresh(b, user.refresh)
      t.same(retry.json(), first.json(), 'a retry on the other instance within the interval gets the same pair')
      await sleep(1100)
      const late = await refresh(b, user.refresh)
      t.equal(late.statusCode, 401)
      t.equal(late.json().error, 'token_revoked')
      for (const app of [a, b]) t.equal(await itemsStatus(app, first.json().access_token), 401, 'the pair of the session stops')
      t.equal((await refresh(a, first.json().refresh_token)).json().error, 'token_revoked', 'and its refresh token')
      const other = await signUp(a)
      t.same((await a.inject({ method: 'GET', url: '/sessions', headers: bearer(other.access) })).json().sessions.length, 1)
    })

    await t.test('JWT_REFRESH_REUSE_INTERVAL=0: of concurrent refreshes with one token, exactly one 200', async (t) => {
      const [a, b] = await twoInstances(t, database, store, { JWT_REFRESH_REUSE_INTERVAL: '0' })
      const user = await signUp(a)
      const responses = await Promise.all(Array.from({ length: 20 }, async (_, i) => await refresh(i % 2 === 0 ? a : b, user.refresh)))
      const codes = responses.map((response) => response.statusCode)
      t.equal(codes.filter((code) => code === 200).length, 1, `one winner among ${codes.join(',')}`)
      t.equal(codes.filter((code) => code === 401).length, 19)
    })
  })
})
