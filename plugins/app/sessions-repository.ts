import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { isForeignKeyViolation, preparedQuery, type SessionsTable } from '../../src/db'
import type { RevocationStore } from '../../src/revocation'

/** A login session as listed: its row; times in milliseconds since the epoch. */
export type StoredSession = SessionsTable

const PURGE_INTERVAL_MS = 60_000
const columns = ['id', 'user_id', 'created_at', 'last_used_at', 'expires_at', 'user_agent', 'address'] as const

/**
 * The list of login sessions, in the SQL database: a cold path (login, refresh, the session routes),
 * never read by a protected request. Ending a session is the revocation store's job; the row is
 * deleted after it. A row whose session the store says is revoked (a refresh that raced the end of
 * its session wrote it again) is not listed, and is deleted when seen.
 */
function sessionsRepository (db: FastifyInstance['db'], revocation: RevocationStore) {
  async function isEnded (row: StoredSession): Promise<boolean> {
    // The session's latest tokens were issued at last_used_at: a user-wide cut-off at or after it ends them.
    return await revocation.isRevoked({ sub: String(row.user_id), jti: row.id, sid: row.id, iat_ms: row.last_used_at })
  }

  async function live (rows: StoredSession[]): Promise<StoredSession[]> {
    const ended = await Promise.all(rows.map(isEnded))
    const gone = rows.filter((_, i) => ended[i]).map((row) => row.id)
    if (gone.length > 0) await db.deleteFrom('sessions').where('id', 'in', gone).execute()
    return rows.filter((_, i) => !ended[i])
  }

  const selectLive = (userId: number) => db.selectFrom('sessions').select(columns)
    .where('user_id', '=', userId).where('expires_at', '>', Date.now())

  // Every rotating refresh writes it: compiled once. The update takes the inserted row's values.
  const upsertUsed = preparedQuery(db, (id: string, userId: number, createdAt: number, lastUsedAt: number, expiresAt: number, userAgent: string | null, address: string) =>
    db.insertInto('sessions')
      .values({ id, user_id: userId, created_at: createdAt, last_used_at: lastUsedAt, expires_at: expiresAt, user_agent: userAgent, address })
      .onConflict((conflict) => conflict.column('id')
        .doUpdateSet((eb) => ({
          last_used_at: eb.ref('excluded.last_used_at'),
          expires_at: eb.ref('excluded.expires_at'),
          user_agent: eb.ref('excluded.user_agent'),
          address: eb.ref('excluded.address')
        }))
        .whereRef('sessions.user_id', '=', 'excluded.user_id')), ['', 0, 0, 0, 0, '', ''])

  return {
    /** The row of a new login session; false when the user was deleted meanwhile. */
    async open (session: StoredSession): Promise<boolean> {
      try {
        await db.insertInto('sessions').values(session).execute()
        return true
      } catch (error) {
        if (isForeignKeyViolation(error)) return false
        throw error
      }
    },

    /**
     * A refresh used the session. A session opened before this list existed gets its row now; a
     * row of another user under the same id (a foreign token's jti) is left alone.
     */
    async used (session: StoredSession): Promise<void> {
      try {
        await upsertUsed(session.id, session.user_id, session.created_at, session.last_used_at, session.expires_at, session.user_agent, session.address)
      } catch (error) {
        if (!isForeignKeyViolation(error)) throw error
      }
    },

    /** The user's live sessions, newest first. */
    async list (userId: number): Promise<StoredSession[]> {
      return await live(await selectLive(userId).orderBy('created_at', 'desc').orderBy('id').execute())
    },

    /** One live session of the user, or undefined (another user's session included). */
    async find (userId: number, id: string): Promise<StoredSession | undefined> {
      return (await live(await selectLive(userId).where('id', '=', id).execute()))[0]
    },

    /** The live sessions of the user beyond the `max` used most recently. */
    async beyond (userId: number, max: number): Promise<StoredSession[]> {
      const rows = await selectLive(userId).orderBy('last_used_at', 'desc').orderBy('created_at', 'desc').orderBy('id').execute()
      return rows.slice(max)
    },

    /** A fresh login in the session: used now, its end unchanged. */
    async touch (userId: number, id: string, lastUsedAt: number): Promise<void> {
      await db.updateTable('sessions').set({ last_used_at: lastUsedAt }).where('id', '=', id).where('user_id', '=', userId).execute()
    },

    async remove (userId: number, id: string): Promise<void> {
      await db.deleteFrom('sessions').where('id', '=', id).where('user_id', '=', userId).execute()
    },

    /** The rows of every session a user-wide cut-off at `cutoffMs` ended. */
    async removeUntil (userId: number, cutoffMs: number): Promise<void> {
      await db.deleteFrom('sessions').where('user_id', '=', userId).where('last_used_at', '<=', cutoffMs).execute()
    },

    async purgeExpired (): Promise<void> {
      await db.deleteFrom('sessions').where('expires_at', '<=', Date.now()).execute()
    }
  }
}

export type SessionsRepository = ReturnType<typeof sessionsRepository>

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionsRepository
  }
}

function purgeTimer (repository: SessionsRepository, log: FastifyBaseLogger): NodeJS.Timeout {
  const timer = setInterval(() => {
    repository.purgeExpired().catch((error: unknown) => { log.warn({ err: error }, 'deleting expired sessions failed') })
  }, PURGE_INTERVAL_MS)
  timer.unref()
  return timer
}

export default fp(async function sessions (fastify) {
  const repository = sessionsRepository(fastify.db, fastify.revocation)
  const timer = purgeTimer(repository, fastify.log)
  fastify.addHook('onClose', async () => { clearInterval(timer) })
  fastify.decorate('sessions', repository)
}, { name: 'gatehouse-sessions-repository', fastify: '5.x', dependencies: ['gatehouse-database', 'gatehouse-revocation'] })
