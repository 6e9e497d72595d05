import { isDeepStrictEqual } from 'node:util'
import type { Compilable, Kysely, SqliteDatabase } from 'kysely'

// Kysely instances whose database is a local SQLite file, with the handle to read it directly.
const sqliteHandles = new WeakMap<Kysely<any>, SqliteDatabase>()

/**
 * Lets prepared queries on `db` read the SQLite handle directly. better-sqlite3 is synchronous, so
 * Kysely's path around it (connection mutex, several awaits) costs many times the read itself:
 * measured here, a primary-key read through Kysely halved the authenticated read rate. Direct reads
 * bypass Kysely's connection mutex, so they would see the writes of a Kysely transaction in
 * progress; the app runs none around them.
 */
export function readSqliteDirectly (db: Kysely<any>, handle: SqliteDatabase): void {
  sqliteHandles.set(db, handle)
}

/**
 * A read built and compiled once, then run with new parameter values. Kysely rebuilds and
 * recompiles a query on every call; hot-path reads compile once here. `build` is called once with
 * `samples`, and the compiled query must carry exactly those values, in that order, as its
 * parameters, so each call can swap in its own.
 */
export function preparedQuery<Row, Args extends unknown[]> (
  db: Kysely<any>,
  build: (...args: Args) => Compilable<Row>,
  samples: Args
): (...args: Args) => Promise<Row[]> {
  const compiled = build(...samples).compile()
  if (!isDeepStrictEqual(compiled.parameters, samples)) {
    throw new Error(`preparedQuery: the parameters of "${compiled.sql}" are not the arguments in order`)
  }
  const sqlite = sqliteHandles.get(db)
  if (sqlite !== undefined) {
    const statement = sqlite.prepare(compiled.sql)
    return async function runOnSqlite (...args: Args): Promise<Row[]> {
      return statement.all(args) as Row[]
    }
  }
  return async function run (...args: Args): Promise<Row[]> {
    return (await db.executeQuery<Row>({ ...compiled, parameters: args })).rows
  }
}
