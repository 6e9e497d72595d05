import { type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely'

export type Dialect = 'sqlite' | 'postgres'

/** An integer key the database numbers itself: SQLite's AUTOINCREMENT, a PostgreSQL identity. */
function generatedKey (dialect: Dialect): (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  return dialect === 'sqlite'
    ? (column) => column.primaryKey().autoIncrement()
    : (column) => column.primaryKey().generatedByDefaultAsIdentity()
}

// Append only: a migration that has run somewhere is never edited.
function migrations (dialect: Dialect): Record<string, Migration> {
  const key = generatedKey(dialect)
  return {
    '0001_users_items_revocations': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('users')
          .addColumn('id', 'integer', key)
          .addColumn('username', 'text', (col) => col.notNull().unique())
          .addColumn('password_hash', 'text', (col) => col.notNull())
          .addColumn('created_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createTable('items')
          .addColumn('id', 'integer', key)
          .addColumn('name', 'text', (col) => col.notNull().unique())
          .addColumn('price', 'double precision', (col) => col.notNull())
          .execute()
        await db.schema.createTable('revocations')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('value', 'bigint', (col) => col.notNull())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('revocations_expires_at').on('revocations').column('expires_at').execute()
      }
    },
    // Admin rights kept on the account, set only by the CLI (`gatehouse user set-admin`, `user create --admin`).
    '0002_users_is_admin': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users')
          .addColumn('is_admin', 'boolean', (col) => col.notNull().defaultTo(false))
          .execute()
      }
    },
    // The list of a user's login sessions (GET /sessions); the revocations themselves stay in the
    // revocation store. Times in milliseconds. A deleted user's rows go with the account.
    '0003_sessions': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('sessions')
          .addColumn('id', 'text', (col) => col.primaryKey())
          .addColumn('user_id', 'integer', (col) => col.notNull().references('users.id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (col) => col.notNull())
          .addColumn('last_used_at', 'bigint', (col) => col.notNull())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .addColumn('user_agent', 'text')
          .addColumn('address', 'text', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('sessions_user_id').on('sessions').columns(['user_id', 'last_used_at']).execute()
        await db.schema.createIndex('sessions_expires_at').on('sessions').column('expires_at').execute()
        // The answer to a spent refresh token, kept for JWT_REFRESH_REUSE_INTERVAL so a retry gets
        // the same pair (SQL store only; Redis keeps it under a TTL). Sealed with the refresh token.
        await db.schema.createTable('refresh_answers')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('sealed', 'text', (col) => col.notNull())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .execute()
      }
    },
    // What a login verified: it issues tokens only while the account's credential is still this one.
    '0004_users_credential_version': {
      async up (db: Kysely<any>) {
        await db.schema.alterTable('users')
          .addColumn('credential_version', 'bigint', (col) => col.notNull().defaultTo(0))
          .execute()
      }
    },
    // Attempts counted before their password is hashed, when there is no Redis.
    '0005_login_attempts': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('login_attempts')
          .addColumn('key', 'text', (col) => col.primaryKey())
          .addColumn('attempts', 'bigint', (col) => col.notNull())
          .addColumn('in_flight', 'bigint', (col) => col.notNull())
          .addColumn('expires_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createIndex('login_attempts_expires_at').on('login_attempts').column('expires_at').execute()
      }
    }
  }
}

export function migrationProvider (dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) }
}
