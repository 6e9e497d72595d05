import { randomUUID } from 'node:crypto'
import SQLite from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import { Pool } from 'pg'
import t from 'tap'
import { buildApp, type App } from '../../src/app'
import type { Database } from '../../src/db'
import { bearer, decode, forEachDatabase, forEachStore, logIn, redisClient, signUp, testConfig, testDatabaseUrl } from '../helpers'

type Test = tap.Test

// The defaults of JWT_ACCESS_TOKEN_EXPIRES and JWT_REFRESH_TOKEN_EXPIRES, which these apps run with.
const ACCESS_LIFETIME = 900
const REFRESH_LIFETIME = 2592000
// Slack for the seconds that pass between issuing a token and reading a TTL.
const SLACK = 3

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

interface RevocationRow { key: string, value: number, expires_at: number }

/** Runs `use` on a connection of the test's own to the database at `url` (the app is stopped). */
async function withDatabase<T> (url: string, use: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const dialect = url.startsWith('sqlite:')
    ? new SqliteDialect({ database: new SQLite(url.slice('sqlite:'.length), { fileMustExist: true }) })
    : new PostgresDialect({ pool: new Pool({ connectionString: url, max: 1 }) })
  const db = new Kysely<Database>({ dialect })
  try {
    return await use(db)
  } finally {
    await db.destroy()
  }
}

async function readRevocations (databaseUrl: string): Promise<RevocationRow[]> {
  const rows = await withDatabase(databaseUrl, async (db) =>
    await db.selectFrom('revocations').select(['key', 'value', 'expires_at']).orderBy('key').execute())
  // Read as the database returns them: PostgreSQL's BIGINTs arrive as strings here.
  return rows.map((row) => ({ key: row.key, value: Number(row.value), expires_at: Number(row.expires_at) }))
}

async function expectRevoked (t: Test, app: App, method: 'GET' | 'POST', url: string, token: string, what: string): Promise<void> {
  const response = await app.inject({ method, url, headers: bearer(token) })
  t.equal(response.statusCode, 401, `${what}: 401`)
  t.equal(response.json().error, 'token_revoked', `${what}: token_revoked`)
}

forEachDatabase(t, async (t, database) => forEachStore(t, async (t, store) => {
  const databaseUrl = await testDatabaseUrl(t, database)
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const options = { store, databaseUrl, redisKeyPrefix }

  const redis = store === 'redis' ? redisClient(t) : undefined
  if (redis !== undefined) {
    // The shared Redis is never flushed: only this test's keys are removed (they would expire anyway).
    t.teardown(async () => {
      const keys = await redis.keys(`${redisKeyPrefix}*`)
      if (keys.length > 0) await redis.del(...keys)
    })
  }

  // Apps are closed by the test; any still open when it ends (a failure) are closed then.
  const open = new Set<App>()
  t.teardown(async () => { for (const app of open) await app.close() })
  async function start (): Promise<App> {
    const app = await buildApp(testConfig(t, options), { logger: false })
    open.add(app)
    return app
  }
  async function stop (app: App): Promise<void> {
    open.delete(app)
    await app.close()
  }

  // First run: a user, an item, and a second login that is logged out.
  const first = await start()
  const user = await signUp(first)
  const created = await first.inject({ method: 'POST', url: '/item/lamp', headers: bearer(user.access), payload: { price: 7.25 } })
  t.equal(created.statusCode, 201, 'item created')
  const other = await logIn(first, user.username, user.password)
  const logout = await first.inject({ method: 'POST', url: '/logout', headers: bearer(other.access) })
  t.equal(logout.statusCode, 200, 'the second session logs out')
  await expectRevoked(t, first, 'GET', '/item/lamp', other.access, 'before the restart, the logged-out access token')
  await expectRevoked(t, first, 'POST', '/refresh', other.refresh, 'before the restart, the logged-out refresh token')

  const sub = String(user.id)
  const otherAccess = decode(other.access)
  const otherRefresh = decode(other.refresh)
  t.equal(otherAccess.sid, otherRefresh.sid, 'one login, one session id')
  const tokenKey = `{u:${sub}}:t:${otherAccess.jti as string}`
  const sessionKey = `{u:${sub}}:s:${otherAccess.sid as string}`

  if (redis !== undefined) {
    // Exactly the two revocations of the user, each kept as long as what it revokes can live, and no
    // longer; beside them under the prefix only the epoch marker and the login attempt counts.
    const written = (await redis.keys(`${redisKeyPrefix}*`)).map((key) => key.slice(redisKeyPrefix.length))
    t.same(written.filter((key) => key.startsWith('{u:')).sort(), [sessionKey, tokenKey].sort(),
      'logout wrote the token and the session key, under the prefix')
    t.same(written.filter((key) => !key.startsWith('{u:') && key !== 'epoch' && !/^\{(addr|login|lp|reg):/.test(key)), [],
      'and nothing else')
    const [tokenTtl, sessionTtl] = await Promise.all([redis.ttl(redisKeyPrefix + tokenKey), redis.ttl(redisKeyPrefix + sessionKey)])
    const now = nowSeconds()
    t.ok(tokenTtl > 0 && tokenTtl <= ACCESS_LIFETIME, `the token key expires (TTL ${tokenTtl} s), within the access lifetime`)
    t.ok(Math.abs(tokenTtl - (otherAccess.exp - now)) <= SLACK,
      `the token key lives as long as the access token does (TTL ${tokenTtl} s, token exp in ${otherAccess.exp - now} s)`)
    t.ok(sessionTtl > 0 && sessionTtl <= REFRESH_LIFETIME, `the session key expires (TTL ${sessionTtl} s), within the refresh lifetime`)
    t.ok(sessionTtl >= otherRefresh.exp - now - SLACK,
      `the session key outlives the refresh token (TTL ${sessionTtl} s, refresh exp in ${otherRefresh.exp - now} s)`)
  }

  await stop(first)

  if (store === 'sql') {
    const rows = await readRevocations(databaseUrl)
    t.same(rows.map((row) => row.key), [sessionKey, tokenKey].sort(), 'logout wrote the token and the session row')
    const tokenRow = rows.find((row) => row.key === tokenKey)
    const sessionRow = rows.find((row) => row.key === sessionKey)
    t.equal(tokenRow?.expires_at, otherAccess.exp, 'the token row expires with the access token')
    t.ok(sessionRow !== undefined && sessionRow.expires_at >= otherRefresh.exp && sessionRow.expires_at <= nowSeconds() + REFRESH_LIFETIME,
      `the session row outlives the refresh token, within the refresh lifetime (expires_at ${sessionRow?.expires_at}, refresh exp ${otherRefresh.exp})`)

    // Expired rows that, were they honoured, would revoke the first session and every token of the user.
    const firstAccess = decode(user.access)
    const past = nowSeconds() - 10
    await withDatabase(databaseUrl, async (db) => await db.insertInto('revocations').values([
      { key: `{u:${sub}}:t:${firstAccess.jti as string}`, value: 1, expires_at: past },
      { key: `{u:${sub}}:s:${firstAccess.sid as string}`, value: 1, expires_at: past },
      { key: `{u:${sub}}:u`, value: nowSeconds() + 3600, expires_at: past }
    ]).execute())
  }

  // Second run, on the same database (and the same Redis prefix), with the same secret.
  const second = await start()
  const again = await second.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  t.equal(again.statusCode, 200, 'the user logs in after the restart')
  const duplicate = await second.inject({ method: 'POST', url: '/register', payload: { username: user.username, password: user.password } })
  t.equal(duplicate.json().error, 'user_exists', 'the user is still registered')

  const listed = await second.inject({ method: 'GET', url: '/items', headers: bearer(user.access) })
  t.equal(listed.statusCode, 200, 'the first session\'s access token still works')
  t.match(listed.json(), { items: [{ name: 'lamp', price: 7.25 }] }, 'the item is listed')
  t.equal(listed.json().items?.length, 1, 'and only it')
  const anonymous = await second.inject({ method: 'GET', url: '/items' })
  t.same(anonymous.json().items, ['lamp'], 'and listed by name to anyone')
  const item = await second.inject({ method: 'GET', url: '/item/lamp', headers: bearer(user.access) })
  t.equal(item.statusCode, 200)
  t.match(item.json(), { name: 'lamp', price: 7.25 })
  const refreshed = await second.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
  t.equal(refreshed.statusCode, 200, 'the first session\'s refresh token still works')
  t.equal((await second.inject({ method: 'GET', url: '/item/lamp', headers: bearer(refreshed.json().access_token) })).statusCode, 200,
    'and so does the access token it refreshes')

  await expectRevoked(t, second, 'GET', '/item/lamp', other.access, 'after the restart, the logged-out access token')
  await expectRevoked(t, second, 'POST', '/refresh', other.refresh, 'after the restart, the logged-out refresh token')

  await stop(second)

  if (store === 'sql') {
    // Closing purges expired rows and keeps the live ones (the refresh token spent by rotation too).
    const spentKey = `{u:${sub}}:r:${decode(user.refresh).jti as string}`
    t.same((await readRevocations(databaseUrl)).map((row) => row.key), [sessionKey, spentKey, tokenKey].sort(),
      'the expired rows are purged, the live revocations kept')
  }
}))
