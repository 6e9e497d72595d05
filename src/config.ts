import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { canonicalUsername } from './username'

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level))
)

// The environment the service reads: every setting, its default and its bounds, in one place.
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.String({
    pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
    default: 'sqlite:./data/gatehouse.db',
    errorMessage: 'must be sqlite:<path> or postgres://[user[:password]@]host[:port]/database'
  }),
  // PostgreSQL only. Every instance holds up to this many connections: instances × size must stay
  // below the server's max_connections.
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  // PostgreSQL only: how long a request waits for a connection, and how long a statement may run.
  DATABASE_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 5000 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+$' })),
  // Braces would break the per-user hash tag that keeps a request's revocation keys in one slot.
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[^{}]*$', maxLength: 64, default: 'gatehouse:' }),
  REDIS_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 250 }),
  JWT_SECRET_KEY: Type.Optional(Type.String()),
  JWT_ACCESS_TOKEN_EXPIRES: Type.Integer({ minimum: 1, maximum: 31536000, default: 900 }),
  JWT_REFRESH_TOKEN_EXPIRES: Type.Integer({ minimum: 1, maximum: 315360000, default: 2592000 }),
  JWT_VERIFY_CACHE_SIZE: Type.Integer({ minimum: 0, maximum: 1000000, default: 10000 }),
  // On: /refresh answers a new refresh token and spends the one presented; presenting it again
  // revokes the whole login session.
  JWT_REFRESH_ROTATION: Type.Boolean({ default: true }),
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 100000, default: 5 }),
  LOGIN_MAX_FAILURES_PER_ADDRESS: Type.Integer({ minimum: 1, maximum: 1000000, default: 100 }),
  LOGIN_FAILURE_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 900 }),
  ITEMS_PAGE_CACHE_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 1000 }),
  PASSWORD_HASH_CONCURRENCY: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
  PASSWORD_HASH_QUEUE: Type.Integer({ minimum: 0, maximum: 100000, default: 1000 }),
  ADMIN_USERNAMES: Type.String({ default: '' }),
  LOG_LEVEL: Type.Union([LogLevel], { default: 'info' })
})
export type Env = Static<typeof EnvSchema>

export const MIN_SECRET_BYTES = 32

export class ConfigError extends Error {
  constructor (problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

function databaseConfig (env: Env) {
  if (env.DATABASE_URL.startsWith('sqlite:')) {
    return { kind: 'sqlite' as const, path: env.DATABASE_URL.slice('sqlite:'.length) }
  }
  return { kind: 'postgres' as const, url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, timeoutMs: env.DATABASE_TIMEOUT_MS }
}
export type DatabaseConfig = ReturnType<typeof databaseConfig>

function toConfig (env: Env) {
  return {
    port: env.PORT,
    host: env.HOST,
    database: databaseConfig(env),
    redis: env.REDIS_URL === undefined
      ? undefined
      : { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX, timeoutMs: env.REDIS_TIMEOUT_MS },
    jwtSecret: env.JWT_SECRET_KEY,
    accessTokenExpires: env.JWT_ACCESS_TOKEN_EXPIRES,
    refreshTokenExpires: env.JWT_REFRESH_TOKEN_EXPIRES,
    verifyCacheSize: env.JWT_VERIFY_CACHE_SIZE,
    itemsPageCacheMs: env.ITEMS_PAGE_CACHE_MS,
    passwordHashing: { concurrency: env.PASSWORD_HASH_CONCURRENCY, maxQueue: env.PASSWORD_HASH_QUEUE },
    refreshRotation: env.JWT_REFRESH_ROTATION,
    loginThrottle: {
      maxPerUsername: env.LOGIN_MAX_FAILURES,
      maxPerAddress: env.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: env.LOGIN_FAILURE_WINDOW_SECONDS
    },
    adminUsernames: new Set(env.ADMIN_USERNAMES.split(',').map(canonicalUsername).filter(Boolean)),
    logLevel: env.LOG_LEVEL
  }
}
export type Config = ReturnType<typeof toConfig>
/** A config whose signing secret is settled: what the app factory takes. */
export type AppConfig = Config & { jwtSecret: string }

/**
 * Validates an environment (process.env in production, a plain object in tests) and builds the
 * typed config. Empty strings count as unset, as shells and compose files produce them.
 */
export function loadConfig (source: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const value = source[key]
    if (value === undefined || value === '') continue
    // TypeBox's conversion would read "1.5" as 1; a number setting must be written as one.
    if (schema.type === 'integer' && !/^[0-9]+$/.test(value)) {
      problems.push(`${key}: must be a whole number (got ${JSON.stringify(value)})`)
    } else {
      raw[key] = value
    }
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Env
  for (const error of Value.Errors(EnvSchema, env)) {
    // A setting may say in its schema what a valid value looks like, better than the bare pattern.
    const message = (error.schema as { errorMessage?: string }).errorMessage ?? error.message
    problems.push(`${error.path.slice(1) || 'environment'}: ${message} (got ${JSON.stringify(error.value)})`)
  }
  if (env.JWT_SECRET_KEY !== undefined && Buffer.byteLength(env.JWT_SECRET_KEY) < MIN_SECRET_BYTES) {
    problems.push(`JWT_SECRET_KEY: must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return toConfig(env)
}
