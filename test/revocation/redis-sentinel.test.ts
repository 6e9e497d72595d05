import { randomUUID } from 'node:crypto'
import type { InjectOptions } from 'fastify'
import Redis from 'ioredis'
import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, signUp, testDatabaseUrl } from '../helpers'
import { requirePostgres } from '../helpers/postgres'
import { startSentinelGroup } from '../helpers/redis-sentinel'
import { traffic } from '../helpers/traffic'

const REDIS_TIMEOUT_MS = 250
// What the issue asks: every answer within REDIS_TIMEOUT_MS + 1 s, valid tokens back within 30 s.
const ANSWER_WITHIN_MS = REDIS_TIMEOUT_MS + 1000
const BACK_WITHIN_MS = 30_000
const POLL_MS = 100

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const me = (user: { id: number }, token: string): InjectOptions => ({ method: 'GET', url: `/user/${user.id}`, headers: bearer(token) })

async function untilWorks (app: App, request: InjectOptions, deadline: number): Promise<number> {
  let status = 0
  while (Date.now() < deadline) {
    status = (await app.inject(request)).statusCode
    if (status === 200) return status
    await sleep(POLL_MS)
  }
  return status
}

t.test('a Sentinel failover loses no revocation, not even one written the moment before the master died', async (t) => {
  const group = await startSentinelGroup(t)
  if (group === undefined || !await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, 'postgres')
  const options = {
    databaseUrl,
    redisKeyPrefix: `gatehouse-sentinel-test:${randomUUID()}:`,
    env: { REDIS_SENTINELS: group.sentinels, REDIS_SENTINEL_NAME: group.name, REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS) }
  }
  // Not `store: 'redis'`, which would set REDIS_URL as well.
  const a = await buildTestApp(t, { ...options, env: { ...options.env, REDIS_KEY_PREFIX: options.redisKeyPrefix } })
  const b = await buildTestApp(t, { ...options, env: { ...options.env, REDIS_KEY_PREFIX: options.redisKeyPrefix } })
  t.equal((await a.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'ready through the sentinels')

  const [untouched, early, last] = [await signUp(a), await signUp(b), await signUp(a)]
  t.equal((await b.inject({ method: 'POST', url: '/logout', headers: bearer(early.access) })).statusCode, 200, 'a logout well before the failover')

  // When the sentinels switch the master: the failover time.
  const watcher = new Redis({ host: '127.0.0.1', port: group.sentinelPorts[0], maxRetriesPerRequest: 1 })
  watcher.on('error', () => {})
  t.teardown(() => { watcher.disconnect() })
  let switchedAt: number | undefined
  await watcher.subscribe('+switch-master')
  watcher.on('message', () => { switchedAt ??= Date.now() })

  const stream = traffic({ a, b }, [
    { name: 'untouched', request: me(untouched, untouched.access) },
    { name: 'early', request: me(early, early.access) },
    { name: 'last', request: me(last, last.access) }
  ])
  await sleep(300)

  // The replica must miss the last revocation, as asynchronous replication can: it is stopped, its
  // link to the master cut, and the master killed before the replica runs again.
  group.replica.signal('SIGSTOP')
  const inspect = new Redis({ host: '127.0.0.1', port: group.master.port, maxRetriesPerRequest: 1 })
  inspect.on('error', () => {})
  t.teardown(() => { inspect.disconnect() })
  await inspect.call('CLIENT', 'KILL', 'TYPE', 'replica')
  t.equal((await a.inject({ method: 'POST', url: '/logout', headers: bearer(last.access) })).statusCode, 200, 'a logout the moment before the kill')
  const lastRevokedAt = Date.now()
  await group.master.stop()
  const killedAt = Date.now()
  group.replica.signal('SIGCONT')
  inspect.disconnect()

  const deadline = killedAt + BACK_WITHIN_MS
  const backA = await untilWorks(a, me(untouched, untouched.access), deadline)
  const backB = await untilWorks(b, me(untouched, untouched.access), deadline)
  const backAt = Date.now()
  await sleep(500)
  const answers = await stream.stop()

  t.equal(backA, 200, 'instance a serves valid tokens again within 30 s of the kill')
  t.equal(backB, 200, 'and instance b')
  t.ok(switchedAt !== undefined, 'the sentinels switched the master')

  const revoked = answers.filter((answer) => answer.probe === 'early' || (answer.probe === 'last' && answer.at >= lastRevokedAt))
  t.same(revoked.filter((answer) => answer.status === 200).map((answer) => `${answer.instance} ${answer.probe} at +${answer.at - killedAt} ms`), [],
    'no revoked token was accepted, before, during or after the failover')
  t.same([...new Set(revoked.map((answer) => `${answer.status} ${answer.error}`))].filter((s) => s !== '401 token_revoked' && s !== '503 revocation_unavailable'), [],
    'revoked tokens: 401 token_revoked or 503 revocation_unavailable')
  const slowest = answers.reduce((max, answer) => Math.max(max, answer.ms), 0)
  t.ok(slowest <= ANSWER_WITHIN_MS, `every request answered within REDIS_TIMEOUT_MS + 1 s (${ANSWER_WITHIN_MS} ms; slowest ${slowest} ms)`)

  const valid = answers.filter((answer) => answer.probe === 'untouched' && answer.at >= killedAt)
  const first503 = valid.find((answer) => answer.status === 503)
  const refused = valid.filter((answer) => answer.status !== 200)
  const last503 = refused[refused.length - 1]
  const first200 = valid.find((answer) => answer.status === 200 && first503 !== undefined && answer.at > first503.at)
  t.same(refused.filter((answer) => answer.status !== 503).map((answer) => `${answer.status} ${answer.error}`), [],
    'the valid token was refused only with 503 while there was no master')
  if (switchedAt !== undefined && last503 !== undefined) {
    t.ok(last503.at + last503.ms <= switchedAt + REDIS_TIMEOUT_MS + 500,
      `requests failed closed for at most the failover time plus REDIS_TIMEOUT_MS (last 503 answered ${last503.at + last503.ms - switchedAt} ms after the switch; 500 ms allowed for this busy test process)`)
  }
  const at = (time: number | undefined): string => time === undefined ? 'never' : `+${time - killedAt} ms`
  t.comment(`failover timeline (down-after-milliseconds ${group.downAfterMs}, REDIS_TIMEOUT_MS ${REDIS_TIMEOUT_MS}): ` +
    `master killed +0 ms; first 503 ${at(first503?.at)}; sentinels switched the master ${at(switchedAt)}; ` +
    `last 503 ${at(last503 === undefined ? undefined : last503.at + last503.ms)}; first 200 on the new master ${at(first200?.at)}; ` +
    `both instances serving ${at(backAt)}; ${answers.length} requests, slowest ${slowest} ms`)

  for (const [name, app] of Object.entries({ a, b })) {
    for (const [what, user] of Object.entries({ early, last })) {
      t.equal((await app.inject(me(user, user.access))).json().error, 'token_revoked', `${name}: ${what}: the access token is still refused on the new master`)
      t.equal((await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })).json().error, 'token_revoked', `${name}: ${what}: and its refresh token`)
    }
  }
})
