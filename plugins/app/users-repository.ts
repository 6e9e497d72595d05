import fp from 'fastify-plugin'
import { isUniqueViolation, preparedQuery } from '../../src/db'
import { usernameSpellings } from '../../src/accounts'
import { UserExists } from '../../src/http'

export interface StoredUser {
  id: number
  username: string
  password_hash: string
  /** The account's admin flag, the only source of admin rights (src/accounts/admin-rights.ts). */
  is_admin: boolean
  /** The password's version: a login issues tokens only while it is still the one it verified. */
  credential_version: number
}

export interface ListedUser {
  id: number
  username: string
  is_admin: boolean
  created_at: number
}

/** SQLite reads the boolean column as 0 or 1. */
const withAdminFlag = <Row extends { is_admin: number | boolean }>(row: Row): Row & { is_admin: boolean } =>
  ({ ...row, is_admin: row.is_admin === true || row.is_admin === 1 })

const stored = (row: { id: number, username: string, password_hash: string, is_admin: number | boolean, credential_version: number }): StoredUser =>
  ({ ...withAdminFlag(row), credential_version: Number(row.credential_version) })

function usersRepository (db: import('fastify').FastifyInstance['db']) {
  const columns = ['id', 'username', 'password_hash', 'is_admin', 'credential_version'] as const
  // Every login and refresh reads a user: compiled once.
  const byUsername = preparedQuery(db, (username: string) =>
    db.selectFrom('users').select(columns).where('username', '=', username), [''])
  const byId = preparedQuery(db, (id: number) => db.selectFrom('users').select(columns).where('id', '=', id), [0])
  const versionById = preparedQuery(db, (id: number) => db.selectFrom('users').select('credential_version').where('id', '=', id), [0])

  return {
    /** Inserts a user; the UNIQUE index, not a prior lookup, decides who wins a race. */
    async create (username: string, passwordHash: string, isAdmin = false): Promise<number> {
      try {
        const row = await db.insertInto('users')
          .values({ username, password_hash: passwordHash, created_at: Date.now(), is_admin: isAdmin ? 1 : 0 })
          .returning('id')
          .executeTakeFirstOrThrow()
        return Number(row.id)
      } catch (error) {
        if (isUniqueViolation(error)) throw new UserExists(username)
        throw error
      }
    },

    async findByUsername (username: string): Promise<StoredUser | undefined> {
      const row = (await byUsername(username))[0]
      return row === undefined ? undefined : stored(row)
    },

    /** The account a login name (as typed) names: under its pre-PRECIS spelling, else its canonical one. */
    async findByLoginName (raw: string): Promise<StoredUser | undefined> {
      for (const spelling of usernameSpellings(raw)) {
        const row = (await byUsername(spelling))[0]
        if (row !== undefined) return withAdminFlag(row)
      }
      return undefined
    },

    async findById (id: number): Promise<StoredUser | undefined> {
      const row = (await byId(id))[0]
      return row === undefined ? undefined : stored(row)
    },

    /** Every account, by id. */
    async list (): Promise<ListedUser[]> {
      const rows = await db.selectFrom('users').select(['id', 'username', 'is_admin', 'created_at']).orderBy('id').execute()
      return rows.map(withAdminFlag)
    },

    async setAdmin (id: number, isAdmin: boolean): Promise<void> {
      await db.updateTable('users').set({ is_admin: isAdmin ? 1 : 0 }).where('id', '=', id).execute()
    },

    /**
     * The account's credential version now, undefined once it is deleted. A login reads it after
     * its hash, with the time it read it from before: a change committed after that read wrote a
     * revocation cut-off later than the tokens the login issues.
     */
    async credentialVersion (id: number): Promise<number | undefined> {
      const row = (await versionById(id))[0]
      return row === undefined ? undefined : Number(row.credential_version)
    },

    /**
     * A new password, only if the credential is still version `verified` (the one whose old
     * password was checked); bumps the version so logins that verified the old one issue nothing.
     * False when another change came first.
     */
    async changePassword (id: number, passwordHash: string, verified: number): Promise<boolean> {
      const result = await db.updateTable('users')
        .set((eb) => ({ password_hash: passwordHash, credential_version: eb('credential_version', '+', 1) }))
        .where('id', '=', id).where('credential_version', '=', verified).executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** The same password hashed with today's settings: written only if it is still the current credential. */
    async rehashPassword (id: number, passwordHash: string, verified: number): Promise<void> {
      await db.updateTable('users').set({ password_hash: passwordHash })
        .where('id', '=', id).where('credential_version', '=', verified).execute()
    },

    /** Ends the current credential before a deletion: logins that verified it issue nothing from now on. */
    async endCredential (id: number): Promise<void> {
      await db.updateTable('users').set((eb) => ({ credential_version: eb('credential_version', '+', 1) })).where('id', '=', id).execute()
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
}, { name: 'gatehouse-users-repository', fastify: '5.x', dependencies: ['gatehouse-database'] })
