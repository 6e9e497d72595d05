import { isDeepStrictEqual } from 'node:util'
import type { Compilable, Kysely, SqliteDatabase } from 'kysely'

// Kysely instances whose database is a local SQLite file, with the handle to read it directly.
const sqliteHandles = new WeakMap<Kysely<any>, SqliteDatabase>()

/**
 * Lets prepared queries on `db` run on the SQLite handle directly. better-sqlite3 is synchronous, so
 * Kysely's path around it (connection mutex, several awaits) costs many times the statement itself:
 * measured here, a primary-key read through Kysely halved the authenticated read rate. Direct
 * statements bypass Kysely's connection mutex, so they would land inside a Kysely transaction in
 * progress; the app runs none (migrations run before it serves).
 */
export function readSqliteDirectly (db: Kysely<any>, handle: SqliteDatabase): void {
  sqliteHandles.set(db, handle)
}

/**
 * A statement built and compiled once, then run with new parameter values: the rows it returns
 * (none for a write without `returning`). Kysely rebuilds and recompiles a query on every call;
 * hot-path statements compile once here. `build` is called once with
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
    if (!statement.reader) {
      return async function writeOnSqlite (...args: Args): Promise<Row[]> {
        statement.run(args)
        return []
      }
    }
    return async function runOnSqlite (...args: Args): Promise<Row[]> {
      return statement.all(args) as Row[]
    }
  }
  return async function run (...args: Args): Promise<Row[]> {
    return (await db.executeQuery<Row>({ ...compiled, parameters: args })).rows
  }
}
