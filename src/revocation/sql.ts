import type { FastifyBaseLogger } from 'fastify'
import { sql, type Kysely } from 'kysely'
import { preparedQuery, type Database } from '../db'
import { nowSeconds, type RevocationBackend } from './store'

const PURGE_INTERVAL_MS = 60_000

export interface RevocationRow {
  key: string
  value: number
  expires_at: number
}

/**
 * Every live revocation of the record, page by page in key order: tokens, sessions and cut-offs,
 * what Redis needs to be restored. Spent refresh tokens stay out: they are only ever read in SQL.
 */
export async function * liveRevocations (db: Kysely<Database>, pageSize: number): AsyncGenerator<RevocationRow[]> {
  let after = ''
  for (;;) {
    const page = await db.selectFrom('revocations').select(['key', 'value', 'expires_at'])
      .where('expires_at', '>', nowSeconds())
      .where('key', '>', after)
      .where('key', 'like', '{u:%')
      .where('key', 'not like', '%}:r:%')
      .orderBy('key').limit(pageSize).execute()
    if (page.length === 0) return
    yield page.map((row) => ({ key: row.key, value: Number(row.value), expires_at: Number(row.expires_at) }))
    if (page.length < pageSize) return
    after = page[page.length - 1].key
  }
}

/**
 * Revocations in the SQL database: the store of a single instance without Redis, and with Redis
 * the durable record Redis is restored from. Rows carry their expiry;
 * reads ignore expired rows, and a timer deletes them so the table holds only live tokens.
 */
export function sqlRevocationBackend (db: Kysely<Database>, log: FastifyBaseLogger): RevocationBackend {
  async function purge (): Promise<void> {
    await db.deleteFrom('revocations').where('expires_at', '<=', nowSeconds()).execute()
  }
  const timer = setInterval(() => {
    purge().catch((error: unknown) => { log.warn({ err: error }, 'purging expired revocations failed') })
  }, PURGE_INTERVAL_MS)
  timer.unref()

  // A refresh token's spend, on every rotating refresh: compiled once. It inserts, or takes over a
  // row that has expired but is not purged yet; a live row stays.
  const spend = preparedQuery(db, (key: string, value: number, expiresAt: number, now: number) =>
    db.insertInto('revocations').values({ key, value, expires_at: expiresAt })
      .onConflict((conflict) => conflict.column('key')
        .doUpdateSet((eb) => ({ value: eb.ref('excluded.value'), expires_at: eb.ref('excluded.expires_at') }))
        .where('revocations.expires_at', '<=', now))
      .returning('key'), ['', 0, 0, 0])

  return {
    name: 'sql',
    inDatabase: true,
    async read (keys) {
      const rows = await db.selectFrom('revocations').select(['key', 'value'])
        .where('key', 'in', keys).where('expires_at', '>', nowSeconds()).execute()
      const byKey = new Map(rows.map((row) => [row.key, row.value]))
      return keys.map((key) => byKey.get(key))
    },
    async write (key, value, expiresAt) {
      await db.insertInto('revocations').values({ key, value, expires_at: expiresAt })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({ value, expires_at: expiresAt }))
        .execute()
    },
    async raise (key, value, expiresAt) {
      // Both sides of each case read the row as it was, in SQLite and PostgreSQL alike.
      const replace = sql<boolean>`revocations.expires_at <= ${nowSeconds()} or revocations.value < excluded.value`
      await db.insertInto('revocations').values({ key, value, expires_at: expiresAt })
        .onConflict((conflict) => conflict.column('key').doUpdateSet({
          value: sql<number>`case when ${replace} then excluded.value else revocations.value end`,
          expires_at: sql<number>`case when ${replace} then excluded.expires_at else revocations.expires_at end`
        }))
        .execute()
    },
    async add (key, value, expiresAt) {
      return (await spend(key, value, expiresAt, nowSeconds())).length > 0
    },
    ping: async () => await db.selectFrom('revocations').select('key').limit(1).execute(),
    async close () {
      clearInterval(timer)
      // A database that is down now must not stop the app from closing; the rows are purged next time.
      await purge().catch((error: unknown) => { log.warn({ err: error }, 'purging expired revocations failed') })
    }
  }
}
