import type { FastifyBaseLogger } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import type { Kysely } from 'kysely'
import type { Database } from '../db'
import { RevocationUnavailable } from '../http'

/** Where the sealed answer to a spent refresh token waits for retries, until a time in milliseconds. */
export interface RefreshAnswers {
  /** Stores the answer unless one is stored already (there is one minter per token). */
  put: (key: string, sealed: string, expiresAtMs: number) => Promise<void>
  /** The live answer, or undefined. */
  get: (key: string) => Promise<string | undefined>
  remove: (key: string) => Promise<void>
  close: () => Promise<void>
}

/**
 * Redis: the answer's TTL is what is left of the reuse interval. Redis failing answers 503
 * revocation_unavailable, as the revocation store it serves with does.
 */
export function redisRefreshAnswers (redis: Redis | Cluster, keyPrefix: string, log: FastifyBaseLogger): RefreshAnswers {
  async function guarded<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      log.warn({ err: error }, 'refresh answers in Redis failed')
      throw new RevocationUnavailable()
    }
  }
  return {
    async put (key, sealed, expiresAtMs) {
      await guarded(async () => await redis.set(keyPrefix + key, sealed, 'PX', Math.max(1, expiresAtMs - Date.now()), 'NX'))
    },
    async get (key) {
      return await guarded(async () => await redis.get(keyPrefix + key)) ?? undefined
    },
    async remove (key) {
      await guarded(async () => await redis.del(keyPrefix + key))
    },
    async close () {}
  }
}

const PURGE_INTERVAL_MS = 60_000

/**
 * SQL: reads ignore an answer past its time, the instance that stored it deletes it then, and a
 * timer deletes any left behind (an instance that stopped meanwhile).
 */
export function sqlRefreshAnswers (db: Kysely<Database>, log: FastifyBaseLogger): RefreshAnswers {
  const removals = new Set<NodeJS.Timeout>()
  async function purge (): Promise<void> {
    await db.deleteFrom('refresh_answers').where('expires_at', '<=', Date.now()).execute()
  }
  const warn = (error: unknown): void => { log.warn({ err: error }, 'deleting expired refresh answers failed') }
  const timer = setInterval(() => { purge().catch(warn) }, PURGE_INTERVAL_MS)
  timer.unref()

  const answers: RefreshAnswers = {
    async put (key, sealed, expiresAtMs) {
      await db.insertInto('refresh_answers').values({ key, sealed, expires_at: expiresAtMs })
        .onConflict((conflict) => conflict.column('key').doNothing())
        .execute()
      const removal = setTimeout(() => {
        removals.delete(removal)
        answers.remove(key).catch(warn)
      }, Math.max(0, expiresAtMs - Date.now()))
      removal.unref()
      removals.add(removal)
    },
    async get (key) {
      const row = await db.selectFrom('refresh_answers').select('sealed')
        .where('key', '=', key).where('expires_at', '>', Date.now()).executeTakeFirst()
      return row?.sealed
    },
    async remove (key) {
      await db.deleteFrom('refresh_answers').where('key', '=', key).execute()
    },
    async close () {
      clearInterval(timer)
      for (const removal of removals) clearTimeout(removal)
      await purge().catch(warn)
    }
  }
  return answers
}
