import type { FastifyBaseLogger } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import { sql, type Kysely } from 'kysely'
import type { Database } from '../db'

/**
 * How a reserved attempt ended. `failed`: it stays counted. `released`: it no longer counts (it
 * succeeded, its client left before it was checked, or another limit refused it). `reset`: it
 * succeeded and clears the failures before it, but not the attempts still in flight.
 */
export type Settlement = 'failed' | 'released' | 'reset'

/**
 * Counters of attempts in a fixed window, shared by every instance. Each counter holds the
 * attempts counted against its limit (failures and attempts still in flight) and, apart, how many
 * are in flight. Every operation is one atomic step on one key.
 */
export interface AttemptStore {
  name: string
  /** The database holds the counters: its outage answers database_unavailable. */
  inDatabase?: boolean
  /** Counts one attempt in flight unless `limit` attempts are counted already; true when counted. */
  reserve: (key: string, limit: number, expiresAt: number) => Promise<boolean>
  settle: (key: string, settlement: Settlement) => Promise<void>
  close: () => Promise<void>
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

// A hash per key: `a` counted attempts, `i` in flight. One key per script, so it runs on a cluster too.
const RESERVE = `
local counted = tonumber(redis.call('HGET', KEYS[1], 'a') or '0')
if counted >= tonumber(ARGV[1]) then return 0 end
redis.call('HINCRBY', KEYS[1], 'a', 1)
redis.call('HINCRBY', KEYS[1], 'i', 1)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1`
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local inFlight = redis.call('HINCRBY', KEYS[1], 'i', -1)
if ARGV[1] == 'released' then redis.call('HINCRBY', KEYS[1], 'a', -1)
elseif ARGV[1] == 'reset' then redis.call('HSET', KEYS[1], 'a', math.max(inFlight, 0)) end
return 1`

export function redisAttemptStore (redis: Redis | Cluster, keyPrefix: string): AttemptStore {
  return {
    name: 'redis',
    async reserve (key, limit, expiresAt) {
      return await redis.eval(RESERVE, 1, keyPrefix + key, limit, Math.max(1, expiresAt - nowSeconds())) === 1
    },
    async settle (key, settlement) {
      await redis.eval(SETTLE, 1, keyPrefix + key, settlement)
    },
    async close () {}
  }
}

const PURGE_INTERVAL_MS = 60_000

/** The counters in the SQL database, for a single instance without Redis (and instances sharing PostgreSQL). */
export function sqlAttemptStore (db: Kysely<Database>, log: FastifyBaseLogger): AttemptStore {
  async function purge (): Promise<void> {
    await db.deleteFrom('login_attempts').where('expires_at', '<=', nowSeconds()).execute()
  }
  const timer = setInterval(() => {
    purge().catch((error: unknown) => { log.warn({ err: error }, 'purging expired login attempt counts failed') })
  }, PURGE_INTERVAL_MS)
  timer.unref()

  return {
    name: 'sql',
    inDatabase: true,
    async reserve (key, limit, expiresAt) {
      const now = nowSeconds()
      const expired = sql<boolean>`login_attempts.expires_at <= ${now}`
      // An upsert is one atomic step in both databases: the row is locked from the check to the write.
      const row = await db.insertInto('login_attempts').values({ key, attempts: 1, in_flight: 1, expires_at: expiresAt })
        .onConflict((conflict) => conflict.column('key')
          .doUpdateSet({
            attempts: sql<number>`case when ${expired} then 1 else login_attempts.attempts + 1 end`,
            in_flight: sql<number>`case when ${expired} then 1 else login_attempts.in_flight + 1 end`,
            expires_at: sql<number>`case when ${expired} then ${expiresAt} else login_attempts.expires_at end`
          })
          .where((eb) => eb.or([eb('login_attempts.expires_at', '<=', now), eb('login_attempts.attempts', '<', limit)])))
        .returning('key')
        .executeTakeFirst()
      return row !== undefined
    },
    async settle (key, settlement) {
      const inFlight = sql<number>`case when in_flight > 0 then in_flight - 1 else 0 end`
      const attempts = settlement === 'failed'
        ? sql<number>`attempts`
        : settlement === 'released' ? sql<number>`attempts - 1` : inFlight
      await db.updateTable('login_attempts').set({ attempts, in_flight: inFlight })
        .where('key', '=', key).where('expires_at', '>', nowSeconds()).execute()
    },
    async close () {
      clearInterval(timer)
      await purge().catch((error: unknown) => { log.warn({ err: error }, 'purging expired login attempt counts failed') })
    }
  }
}
