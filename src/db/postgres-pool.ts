import type { FastifyBaseLogger } from 'fastify'
import { Pool, TypeOverrides, types } from 'pg'
import type { DatabaseConfig } from '../config'

type PostgresConfig = Extract<DatabaseConfig, { kind: 'postgres' }>

/** The server and database of a PostgreSQL URL, for messages: never the password. */
export function describePostgres (url: string): string {
  const { protocol, host, pathname } = new URL(url)
  return `${protocol}//${host}${pathname}`
}

// BIGINT columns hold seconds and milliseconds since the epoch, well inside a double's exact range:
// read as numbers, as SQLite returns them, rather than pg's strings. Anything larger is refused.
const columnTypes = new TypeOverrides()
columnTypes.setTypeParser(types.builtins.INT8, function parseBigint (text: string) {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} does not fit a JavaScript number`)
  return value
})

/**
 * A connection pool that never crashes the process and never lets a request wait for ever: a
 * connection that dies is dropped and replaced on the next query, a request waits at most
 * `timeoutMs` for a connection, and the server cancels a statement running longer than that.
 */
export function postgresPool (config: PostgresConfig, log: FastifyBaseLogger): Pool {
  const pool = new Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: config.timeoutMs,
    statement_timeout: config.timeoutMs,
    // Finds a peer that vanished without closing the connection (a host gone, a cable pulled).
    keepAlive: true,
    fallback_application_name: 'gatehouse',
    types: columnTypes
  })
  // An idle connection that fails (the server restarting, pg_terminate_backend) is reported here and
  // dropped by the pool; without this listener the error would crash the process.
  pool.on('error', (error) => { log.warn({ err: error, database: describePostgres(config.url) }, 'idle database connection lost') })
  // A connection that fails while a query holds it emits 'error' on its client, where the pool listens
  // only while the client is idle. The query fails with that error and the pool drops the client on
  // release; this listener only keeps the event from crashing the process.
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return pool
}
