import fp from 'fastify-plugin'
import { isUniqueViolation } from '../src/db-errors'
import { UserExists } from '../src/errors'
import { preparedQuery } from '../src/prepared-query'

export interface StoredUser {
  id: number
  username: string
  password_hash: string
}

function usersRepository (db: import('fastify').FastifyInstance['db']) {
  const columns = ['id', 'username', 'password_hash'] as const
  // Every login and refresh reads a user: compiled once.
  const byUsername = preparedQuery(db, (username: string) =>
    db.selectFrom('users').select(columns).where('username', '=', username), [''])
  const byId = preparedQuery(db, (id: number) => db.selectFrom('users').select(columns).where('id', '=', id), [0])

  return {
    /** Inserts a user; the UNIQUE index, not a prior lookup, decides who wins a race. */
    async create (username: string, passwordHash: string): Promise<number> {
      try {
        const row = await db.insertInto('users')
          .values({ username, password_hash: passwordHash, created_at: Date.now() })
          .returning('id')
          .executeTakeFirstOrThrow()
        return Number(row.id)
      } catch (error) {
        if (isUniqueViolation(error)) throw new UserExists(username)
        throw error
      }
    },

    async findByUsername (username: string): Promise<StoredUser | undefined> {
      return (await byUsername(username))[0]
    },

    async findById (id: number): Promise<StoredUser | undefined> {
      return (await byId(id))[0]
    },

    async setPasswordHash (id: number, passwordHash: string): Promise<void> {
      await db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', id).execute()
    },

    async delete (id: number): Promise<boolean> {
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    }
  }
}

export type UsersRepository = ReturnType<typeof usersRepository>

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersRepository
  }
}

export default fp(async function users (fastify) {
  fastify.decorate('users', usersRepository(fastify.db))
}, { name: 'users-repository', dependencies: ['database'] })
