import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Redis from 'ioredis'
import { buildApp, type App } from '../../src/app'
import { loadConfig, type AppConfig } from '../../src/config'
import { loadSigning } from '../../src/tokens'
import { createPostgresDatabase, requirePostgres } from './postgres'

import type {} from 'tap'

type Test = tap.Test

// Test settings: where the shared services are. Tests never change process.env.
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const IN_CI = process.env.CI === 'true'

export type StoreKind = 'sql' | 'redis'
export const STORE_KINDS: StoreKind[] = ['sql', 'redis']

export type DatabaseKind = 'sqlite' | 'postgres'
export const DATABASE_KINDS: DatabaseKind[] = ['sqlite', 'postgres']

export const SECRET = randomBytes(32).toString('hex')

/** A fresh directory removed when the test ends. */
export function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

let redisReachable: Promise<boolean> | undefined
function canReach (url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port || 6379), timeout: 1000 })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}

/**
 * Whether the test may use the shared Redis. Where it is unreachable the test is skipped with a
 * clear message, except in CI, where that fails the test.
 */
export async function requireRedis (t: Test): Promise<boolean> {
  redisReachable ??= canReach(TEST_REDIS_URL)
  if (await redisReachable) return true
  const message = `Redis is not reachable at ${TEST_REDIS_URL} (set TEST_REDIS_URL)`
  if (IN_CI) t.fail(message)
  else t.pass(message, { skip: true })
  return false
}

export interface TestAppOptions {
  store?: StoreKind
  /** The database an app gets when no databaseUrl is given: a fresh one of this kind (SQLite by default). */
  database?: DatabaseKind
  env?: Record<string, string>
  /** Reuse a database (restart tests), from testDatabaseUrl(); by default each app gets its own. */
  databaseUrl?: string
  redisKeyPrefix?: string
}

/** The DATABASE_URL of a fresh, empty database of `kind`, removed when `t` ends. */
export async function testDatabaseUrl (t: Test, kind: DatabaseKind): Promise<string> {
  return kind === 'postgres' ? await createPostgresDatabase(t) : `sqlite:${join(tempDir(t), 'test.db')}`
}

/** The config a test app runs with: the production loader fed a plain object. */
export function testConfig (t: Test, options: TestAppOptions = {}): AppConfig {
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl ?? `sqlite:${join(tempDir(t), 'test.db')}`,
    JWT_SECRET_KEY: SECRET,
    LOG_LEVEL: 'silent',
    ...options.env
  }
  if (options.store === 'redis') {
    env.REDIS_URL ??= TEST_REDIS_URL
    env.REDIS_KEY_PREFIX ??= options.redisKeyPrefix ?? `gatehouse-test:${randomUUID()}:`
  }
  const config = loadConfig(env)
  return { ...config, signing: loadSigning(config.jwt, () => config.jwtSecret ?? SECRET) }
}

/** Builds the app as production does, and closes it when the test ends. */
export async function buildTestApp (t: Test, options: TestAppOptions = {}): Promise<App> {
  const databaseUrl = options.databaseUrl ?? await testDatabaseUrl(t, options.database ?? 'sqlite')
  const app = await buildApp(testConfig(t, { ...options, databaseUrl }), { logger: false })
  t.teardown(async () => { await app.close() })
  return app
}

export interface EachOptions {
  /**
   * Runs the subtests at the same time instead of one after the other (tap buffers their output):
   * for tests that mostly wait on the clock (a throttle window, a session's expiry), each on apps
   * and data of its own, whose timed steps have seconds to spare: they share one event loop. Applies
   * to every subtest of `t`.
   */
  concurrently?: boolean
}

/** Runs `body` once per revocation store, as subtests; the Redis one is skipped or failed if Redis is down. */
export function forEachStore (t: Test, body: (t: Test, store: StoreKind) => Promise<void>, { concurrently = false }: EachOptions = {}): void {
  if (concurrently) t.jobs = STORE_KINDS.length
  for (const store of STORE_KINDS) {
    void t.test(`with the ${store} revocation store`, async (t: Test) => {
      if (store === 'redis' && !await requireRedis(t)) return
      await body(t, store)
    })
  }
}

/**
 * Runs `body` once per database backend, as subtests; the PostgreSQL one is skipped or failed if
 * PostgreSQL is down.
 */
export function forEachDatabase (t: Test, body: (t: Test, database: DatabaseKind) => Promise<void>, { concurrently = false }: EachOptions = {}): void {
  if (concurrently) t.jobs = DATABASE_KINDS.length
  for (const database of DATABASE_KINDS) {
    void t.test(`on ${database}`, async (t: Test) => {
      if (database === 'postgres' && !await requirePostgres(t)) return
      await body(t, database)
    })
  }
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

export interface Session {
  id: number
  access: string
  refresh: string
}

let userCounter = 0
export function uniqueName (prefix = 'user'): string {
  userCounter += 1
  return `${prefix}${userCounter}_${randomBytes(3).toString('hex')}`
}

/** Registers a user and logs in through the API. */
export async function signUp (app: App, username = uniqueName(), password = 'correct horse battery'): Promise<Session & { username: string, password: string }> {
  const registered = await app.inject({ method: 'POST', url: '/register', payload: { username, password } })
  if (registered.statusCode !== 201) throw new Error(`register failed: ${registered.body}`)
  const session = await logIn(app, username, password)
  return { ...session, id: registered.json().id, username, password }
}

/**
 * An admin as an operator makes one: an account registered, given the admin flag (what
 * `gatehouse user set-admin` does), then logged in, so its tokens carry is_admin.
 */
export async function signUpAdmin (app: App, username = uniqueName('admin'), password = 'correct horse battery'): Promise<Session & { username: string, password: string }> {
  const user = await signUp(app, username, password)
  await app.users.setAdmin(user.id, true)
  return { ...user, ...await logIn(app, username, password) }
}

export async function logIn (app: App, username: string, password: string): Promise<Session> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username, password } })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.body}`)
  // With JWT_TOKEN_LOCATION=cookies the tokens are in the cookies only.
  const cookies = Object.fromEntries(response.cookies.map(({ name, value }) => [name, value]))
  const body = response.json()
  const access: string = body.access_token ?? cookies.access_token_cookie
  return { id: Number(decode(access).sub), access, refresh: body.refresh_token ?? cookies.refresh_token_cookie }
}

export function decode (token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
}

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** Signs any header and payload by hand (HS256/384/512), for forged and foreign tokens. */
export function forge (payload: unknown, options: { secret?: string, header?: Record<string, unknown>, hmac?: 'sha256' | 'sha384' | 'sha512' } = {}): string {
  const header = options.header ?? { alg: 'HS256', typ: 'JWT' }
  const input = `${b64(header)}.${b64(payload)}`
  const signature = createHmac(options.hmac ?? 'sha256', options.secret ?? SECRET).update(input).digest('base64url')
  return `${input}.${signature}`
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

/**
 * An ES256 signature (IEEE P1363 r‖s) in its low-S form, the only one Gatehouse accepts: what a
 * careful foreign signer sends. `high: true` gives the other twin, (r, n − s) with s > n/2.
 */
export function es256Spelling (signature: Buffer, { high = false } = {}): Buffer {
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`)
  const isHigh = s > P256_ORDER >> 1n
  if (isHigh === high) return signature
  return Buffer.concat([signature.subarray(0, 32), Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')])
}

/** Claims as Flask-JWT-Extended 4.x writes them, for user `sub`. */
export function flaskClaims (sub: number | string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { fresh: false, iat: now, jti: randomUUID(), type: 'access', sub: String(sub), nbf: now, csrf: randomUUID(), exp: now + 900, ...overrides }
}

/** A Redis client for inspecting what the service wrote. */
export function redisClient (t: Test, url = TEST_REDIS_URL): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  return client
}
