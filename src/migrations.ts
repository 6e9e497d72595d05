import { type Kysely, type Migration, type MigrationProvider } from 'kysely'

export type Dialect = 'sqlite'

// Append only: a migration that has run somewhere is never edited.
function migrations (dialect: Dialect): Record<string, Migration> {
  const serial = dialect === 'sqlite' ? 'integer' : 'serial'
  return {
    '0001_users_items_revocations': {
      async up (db: Kysely<any>) {
        await db.schema.createTable('users')
          .addColumn('id', serial, (col) => col.primaryKey().autoIncrement())
          .addColumn('username', 'text', (col) => col.notNull().unique())
          .addColumn('password_hash', 'text', (col) => col.notNull())
          .addColumn('created_at', 'bigint', (col) => col.notNull())
          .execute()
        await db.schema.createTable('items')
          .addColumn('id', serial, (col) => col.primaryKey().autoIncrement())
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
    }
  }
}

export function migrationProvider (dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) }
}
