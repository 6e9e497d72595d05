import t from 'tap'
import type { App } from '../../src/app'
import { bearer, forEachDatabase, forEachStore, logIn, signUp } from '../helpers'
import { twoInstances } from '../helpers/sessions'

type Test = tap.Test

// Logins racing a change of credentials. Refreshes racing one are in credential-races-refresh.test.ts.

const LOGINS = 30

/**
 * The two instances' settings: logins queue on the first one's single hash slot, so most of them
 * finish after the change made through the second has answered.
 */
const ENV = { PASSWORD_HASH_CONCURRENCY: '1', LOGIN_MAX_FAILURES_PER_USERNAME: '1000' }

interface Outcome { statusCode: number, finishedAt: number, access?: string, refresh?: string }

/** LOGINS concurrent logins with `password`, each from its own address; `act` runs once they are all under way. */
async function loginsDuring (app: App, username: string, password: string, act: () => Promise<void>): Promise<{ outcomes: Outcome[], answeredAt: number }> {
  const pending = Array.from({ length: LOGINS }, async (_, i): Promise<Outcome> => {
    const response = await app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress: `10.9.0.${i + 1}` })
    const body = response.statusCode === 200 ? response.json() : {}
    return { statusCode: response.statusCode, finishedAt: Date.now(), access: body.access_token, refresh: body.refresh_token }
  })
  await new Promise((resolve) => setTimeout(resolve, 30))
  await act()
  const answeredAt = Date.now()
  return { outcomes: await Promise.all(pending), answeredAt }
}

/** Every route a token of `outcomes` could open: none may accept one. */
async function assertNoneAccepted (t: Test, apps: App[], id: number, outcomes: Outcome[], answeredAt: number): Promise<void> {
  const late = outcomes.filter((outcome) => outcome.finishedAt > answeredAt)
  t.ok(late.length > 0, `${late.length} logins finished after the change answered`)
  // Most are refused outright (401); one whose check came just before the change may answer after
  // it, with tokens dated before its cut-off, which the checks below must find refused everywhere.
  t.ok(late.filter((outcome) => outcome.statusCode === 401).length >= late.length / 2,
    `logins finishing after the change answered are refused (${late.map((outcome) => outcome.statusCode).join(',')})`)
  let accepted = 0
  for (const outcome of outcomes.filter((outcome) => outcome.access !== undefined)) {
    for (const app of apps) {
      const checks = [
        await app.inject({ method: 'GET', url: `/user/${id}`, headers: bearer(outcome.access!) }),
        await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(outcome.access!) }),
        await app.inject({ method: 'POST', url: '/logout/all', headers: bearer(outcome.access!) }),
        await app.inject({ method: 'POST', url: '/refresh', headers: bearer(outcome.refresh!) })
      ]
      accepted += checks.filter((response) => response.statusCode < 400).length
    }
  }
  t.equal(accepted, 0, 'no token of a login with the old password is accepted anywhere')
}

forEachDatabase(t, async (t, database) => {
  forEachStore(t, async (t, store) => {
    await t.test('logins with the old password racing a password change', async (t) => {
      const [a, b] = await twoInstances(t, database, store, ENV)
      const user = await signUp(b)
      const { outcomes, answeredAt } = await loginsDuring(a, user.username, user.password, async () => {
        const changed = await b.inject({
          method: 'PUT', url: `/user/${user.id}/password`, headers: bearer(user.access), payload: { old_password: user.password, new_password: 'a brand new secret' }
        })
        t.equal(changed.statusCode, 200, 'the change answers')
      })
      await assertNoneAccepted(t, [a, b], user.id, outcomes, answeredAt)
      t.equal((await logIn(a, user.username, 'a brand new secret')).id, user.id, 'the new password works')
    })

    await t.test('logins racing the deletion of the account', async (t) => {
      const [a, b] = await twoInstances(t, database, store, ENV)
      const user = await signUp(b)
      const { outcomes, answeredAt } = await loginsDuring(a, user.username, user.password, async () => {
        t.equal((await b.inject({ method: 'DELETE', url: `/user/${user.id}`, headers: bearer(user.access) })).statusCode, 200, 'the deletion answers')
      })
      await assertNoneAccepted(t, [a, b], user.id, outcomes, answeredAt)
    })
  })
})
