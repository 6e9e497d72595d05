/** True when a write failed on a UNIQUE constraint, in SQLite or PostgreSQL. */
export function isUniqueViolation (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}

/** True when a write named a row that is gone (a session of a user deleted meanwhile). */
export function isForeignKeyViolation (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503'
}

// The socket to the database failed: refused, reset, unreachable, name lookup failing.
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

// PostgreSQL SQLSTATEs of a server that is going away, starting, full, or too slow: 57P01
// admin_shutdown (pg_terminate_backend too), 57P02 crash_shutdown, 57P03 cannot_connect_now,
// 53300 too_many_connections, 57014 query_canceled (statement_timeout). Class 08 is matched whole.
const postgresCodes = new Set(['57P01', '57P02', '57P03', '53300', '57014'])

// node-postgres reports a dead connection or a pool timeout with these messages and no code.
const postgresMessages = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect'
]

// SQLite's busy, locked, I/O and cannot-open results, extended codes (SQLITE_IOERR_WRITE…) included.
const sqlitePrefixes = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_CANTOPEN']

/**
 * True when the database could not be reached or gave up on a query for reasons of its own, not
 * ours: a failure that goes away by itself, answered 503 database_unavailable rather than 500.
 */
export function isDatabaseUnavailable (error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    return networkCodes.has(code) || postgresCodes.has(code) || code.startsWith('08') ||
      sqlitePrefixes.some((prefix) => code.startsWith(prefix))
  }
  return postgresMessages.some((message) => error.message.startsWith(message))
}
