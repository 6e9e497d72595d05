import { isDeepStrictEqual } from 'node:util'
import type { Compilable, Kysely } from 'kysely'

/**
 * A query built and compiled once, then run with new parameter values. Kysely rebuilds and
 * recompiles a query on every call, which costs more than a primary-key read itself; hot-path reads
 * compile once here. `build` is called once with `samples`, and the compiled query must carry
 * exactly those values, in that order, as its parameters, so each call can swap in its own.
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
  return async function run (...args: Args): Promise<Row[]> {
    return (await db.executeQuery<Row>({ ...compiled, parameters: args })).rows
  }
}
