import { randomBytes } from 'node:crypto'
import { Client } from 'pg'

import type {} from 'tap'

type Test = tap.Test

// The server the PostgreSQL tests use, and a database on it they may connect to. Each test app gets
// a database of its own, created through this connection and dropped when its test ends.
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const IN_CI = process.env.CI === 'true'
const CONNECT_TIMEOUT_MS = 2000

/** Runs one statement on TEST_DATABASE_URL's database, on a connection of its own. */
export async function adminQuery (text: string, values: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const client = new Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: CONNECT_TIMEOUT_MS })
  client.on('error', () => {})
  try {
    await client.connect()
    return (await client.query(text, values)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

let reachable: Promise<string | undefined> | undefined

/**
 * Whether the test may use PostgreSQL. Where it does not answer the test is skipped with a clear
 * message, except in CI, where that fails the test.
 */
export async function requirePostgres (t: Test): Promise<boolean> {
  reachable ??= adminQuery('select 1').then(() => undefined, (error: Error) => error.message || String((error as { code?: unknown }).code))
  const problem = await reachable
  if (problem === undefined) return true
  const { host, pathname } = new URL(TEST_DATABASE_URL)
  const message = `PostgreSQL is not usable at ${host}${pathname} (${problem}; set TEST_DATABASE_URL)`
  if (IN_CI) t.fail(message)
  else t.pass(message, { skip: true })
  return false
}

/** The URL of a new, empty database on the test server, dropped when `t` ends (whatever is connected). */
export async function createPostgresDatabase (t: Test): Promise<string> {
  // Random names: parallel test processes, and databases left by a killed run, never collide.
  const name = `gh_test_${randomBytes(8).toString('hex')}`
  await adminQuery(`create database ${name}`)
  t.teardown(async () => { await adminQuery(`drop database if exists ${name} with (force)`) })
  const url = new URL(TEST_DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** The database name of a PostgreSQL URL. */
export const databaseName = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1))
