export * from './errors'
export * from './migrations'
export * from './prepared-query'
export * from './schema'

import type * as PostgresPoolModule from './postgres-pool'

// pg is loaded only for PostgreSQL: it adds some 15 MB to every SQLite instance's memory otherwise.
export function loadPostgresPool (): typeof PostgresPoolModule {
  return require('./postgres-pool') as typeof PostgresPoolModule
}
