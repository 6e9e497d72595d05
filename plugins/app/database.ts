import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type SqliteDatabase } from 'kysely'
import type { Config, DatabaseConfig } from '../../src/config'
import type { Database } from '../../src/db'
import { loadPostgresPool, migrationProvider, readSqliteDirectly } from '../../src/db'

declare module 'fastify' {
  interface FastifyInstance {
    db: Kysely<Database>
  }
}

const MAX_CACHED_STATEMENTS = 256

/**
 * Opens the SQLite file. Kysely prepares every query anew, which costs more than running it; the
 * app's queries are a handful of fixed SQL strings, so each is prepared once and kept.
 */
function openSqlite (path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const connection = new SQLite(path)
  connection.pragma('journal_mode = WAL')
  connection.pragma('busy_timeout = 5000')
  connection.pragma('foreign_keys = ON')
  const statements = new Map<string, SQLite.Statement>()
  return {
    close: () => { connection.close() },
    prepare (sql) {
      let statement = statements.get(sql)
      if (statement === undefined) {
        statement = connection.prepare(sql)
        if (statements.size < MAX_CACHED_STATEMENTS) statements.set(sql, statement)
      }
      return statement
    }
  }
}

function openDatabase (database: DatabaseConfig, log: FastifyBaseLogger): Kysely<Database> {
  if (database.kind === 'postgres') {
    const { postgresPool } = loadPostgresPool()
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool: postgresPool(database, log) }) })
  }
  const sqlite = openSqlite(database.path)
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  readSqliteDirectly(db, sqlite)
  return db
}

async function migrate (db: Kysely<Database>, database: DatabaseConfig, log: FastifyBaseLogger): Promise<void> {
  const { error, results } = await new Migrator({ db, provider: migrationProvider(database.kind) }).migrateToLatest()
  for (const result of results ?? []) {
    if (result.status === 'Success') log.info({ migration: result.migrationName }, 'migration applied')
  }
  if (error !== undefined) throw error
  await sql`select 1`.execute(db)
}

// Opens the database, brings its schema up to date, and closes it with the app.
export default fp<{ config: Config }>(async function database (fastify, { config }) {
  const db = openDatabase(config.database, fastify.log)
  fastify.addHook('onClose', async () => { await db.destroy() })

  try {
    await migrate(db, config.database, fastify.log)
  } catch (error) {
    if (config.database.kind === 'sqlite') throw error
    // pg's messages ("connect ECONNREFUSED 127.0.0.1:5432", "timeout exceeded…") do not always say which database.
    const { message, code } = error as { message?: string, code?: unknown }
    const { describePostgres } = loadPostgresPool()
    throw new Error(`PostgreSQL at ${describePostgres(config.database.url)} is not usable: ${message || String(code)}`, { cause: error })
  }

  fastify.decorate('db', db)
}, { name: 'gatehouse-database', fastify: '5.x' })
