import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { parseEnv } from 'node:util'
import { SIGNING_ALGORITHMS } from './tokens'
import type { Signing } from './tokens'
import { isProxyEntry, proxyList } from './http'

const LogLevel = Type.Union(
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level))
)

const COOKIE_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$"
const COOKIE_PATH = '^/[^;,\\s]{0,255}$'
const CLAIM_NAME = '^[A-Za-z_][A-Za-z0-9_]*$'
const AUDIENCES = '^[^,\\s]+(,[^,\\s]+)*$'
// Claims with their own meaning: none of them can hold the identity or the custom claims.
const REGISTERED_CLAIMS = ['type', 'jti', 'exp', 'iat', 'nbf', 'iss', 'aud', 'fresh', 'csrf', 'sid', 'iat_ms', 'is_admin']

// The environment the service reads: every setting, its default and its bounds, in one place.
// Above the idle timeout of kept-alive connections at the proxy (nginx's upstream
// keepalive_timeout, 60 s in deploy/nginx/gatehouse.conf): the proxy, not Node, closes an idle
// connection, so the proxy never sends a request on a connection Node is closing at that moment.
export const KEEP_ALIVE_TIMEOUT_MS = 65_000

export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  // Where the default SQLite database and the generated secret live: the same place whatever the
  // directory a command is run from.
  DATA_DIR: Type.String({ minLength: 1, default: join(packageRoot(), 'data') }),
  // Unset: SQLite in DATA_DIR/gatehouse.db. A relative sqlite: path is from the current directory.
  DATABASE_URL: Type.Optional(Type.String({
    pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
    errorMessage: 'must be sqlite:<path> or postgres://[user[:password]@]host[:port]/database'
  })),
  // PostgreSQL only. Every instance holds up to this many connections: instances × size must stay
  // below the server's max_connections.
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  // PostgreSQL only: how long a request waits for a connection, and how long a statement may run.
  DATABASE_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 600000, default: 5000 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://.+$' })),
  // Some nodes of a Redis Cluster, instead of REDIS_URL; the client finds the others from them.
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({
    pattern: '^[^\\s,:]+:[0-9]{1,5}(,[^\\s,:]+:[0-9]{1,5})*$',
    errorMessage: 'must be host:port[,host:port…]'
  })),
  // Redis Sentinel, instead of REDIS_URL: the sentinels to ask, and the name of the master they watch.
  REDIS_SENTINELS: Type.Optional(Type.String({
    pattern: '^[^\\s,:]+:[0-9]{1,5}(,[^\\s,:]+:[0-9]{1,5})*$',
    errorMessage: 'must be host:port[,host:port…]'
  })),
  REDIS_SENTINEL_NAME: Type.String({ pattern: '^[A-Za-z0-9._-]+$', maxLength: 128, default: 'mymaster' }),
  // Braces would break the per-user hash tag that keeps a request's revocation keys in one slot.
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[^{}]*$', maxLength: 64, default: 'gatehouse:' }),
  REDIS_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60000, default: 250 }),
  // strict: every check reads Redis, so the very next request on every instance honours a
  // revocation. mirror: each instance answers checks from an in-memory copy of the live revocations
  // that Redis pub/sub keeps up to date (docs/tokens-and-revocation.md#mirror-mode).
  REVOCATION_MODE: Type.Union([Type.Literal('strict'), Type.Literal('mirror')], { default: 'strict' }),
  JWT_SECRET_KEY: Type.Optional(Type.String()),
  // HS256 signs with JWT_SECRET_KEY; the others with private keys, whose public halves are published
  // at /.well-known/jwks.json so other services verify without a secret.
  JWT_ALGORITHM: Type.Union(SIGNING_ALGORITHMS.map((algorithm) => Type.Literal(algorithm)), {
    default: 'HS256',
    errorMessage: `must be one of ${SIGNING_ALGORITHMS.join(', ')}`
  }),
  // One private key (PEM); its kid is its RFC 7638 thumbprint.
  JWT_PRIVATE_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // Several keys, for rotation: a directory holding keys.json and the PEM files it names.
  JWT_KEYS_DIR: Type.Optional(Type.String({ minLength: 1 })),
  // How long verifiers may cache /.well-known/jwks.json: a new key must be published this long
  // before it signs.
  JWKS_MAX_AGE_SECONDS: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
  JWT_ACCESS_TOKEN_EXPIRES: Type.Integer({ minimum: 1, maximum: 31536000, default: 900 }),
  JWT_REFRESH_TOKEN_EXPIRES: Type.Integer({ minimum: 1, maximum: 315360000, default: 2592000 }),
  JWT_VERIFY_CACHE_SIZE: Type.Integer({ minimum: 0, maximum: 1000000, default: 10000 }),
  // On: /refresh answers a new refresh token and spends the one presented; presenting it again
  // revokes the whole login session.
  JWT_REFRESH_ROTATION: Type.Boolean({ default: true }),
  // With rotation: for this many seconds after a refresh token is spent, presenting it again (a
  // retry whose answer was lost, a second tab) answers the same pair; 0 makes any second use reuse.
  JWT_REFRESH_REUSE_INTERVAL: Type.Integer({ minimum: 0, maximum: 300, default: 10 }),
  // A login beyond this many live sessions of one user ends the one used longest ago.
  SESSIONS_MAX_PER_USER: Type.Integer({ minimum: 1, maximum: 100000, default: 100 }),
  // Where clients keep their tokens: headers (Authorization: Bearer), cookies (browsers, with CSRF
  // double submit), or both, as Flask-JWT-Extended's JWT_TOKEN_LOCATION.
  JWT_TOKEN_LOCATION: Type.String({
    pattern: '^(headers|cookies)(,(headers|cookies))?$',
    default: 'headers',
    errorMessage: 'must be headers, cookies, or headers,cookies'
  }),
  JWT_COOKIE_SECURE: Type.Boolean({ default: true }),
  JWT_COOKIE_SAMESITE: Type.Union([Type.Literal('strict'), Type.Literal('lax'), Type.Literal('none')], { default: 'lax' }),
  JWT_COOKIE_CSRF_PROTECT: Type.Boolean({ default: true }),
  // Flask-JWT-Extended's cookie and header names and paths, so a front end written for it keeps
  // working; every path is `/` by default, each set on its own.
  JWT_ACCESS_COOKIE_NAME: Type.String({ pattern: COOKIE_NAME, default: 'access_token_cookie' }),
  JWT_REFRESH_COOKIE_NAME: Type.String({ pattern: COOKIE_NAME, default: 'refresh_token_cookie' }),
  JWT_ACCESS_CSRF_COOKIE_NAME: Type.String({ pattern: COOKIE_NAME, default: 'csrf_access_token' }),
  JWT_REFRESH_CSRF_COOKIE_NAME: Type.String({ pattern: COOKIE_NAME, default: 'csrf_refresh_token' }),
  JWT_ACCESS_CSRF_HEADER_NAME: Type.String({ pattern: COOKIE_NAME, default: 'X-CSRF-TOKEN' }),
  JWT_REFRESH_CSRF_HEADER_NAME: Type.String({ pattern: COOKIE_NAME, default: 'X-CSRF-TOKEN' }),
  JWT_ACCESS_COOKIE_PATH: Type.String({ pattern: COOKIE_PATH, default: '/' }),
  JWT_REFRESH_COOKIE_PATH: Type.String({ pattern: COOKIE_PATH, default: '/' }),
  JWT_ACCESS_CSRF_COOKIE_PATH: Type.String({ pattern: COOKIE_PATH, default: '/' }),
  JWT_REFRESH_CSRF_COOKIE_PATH: Type.String({ pattern: COOKIE_PATH, default: '/' }),
  JWT_COOKIE_DOMAIN: Type.Optional(Type.String({ pattern: '^\\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$', maxLength: 253 })),
  // Off here (the cookies keep a Max-Age, the token's lifetime); on, they end with the browser session.
  JWT_SESSION_COOKIE: Type.Boolean({ default: false }),
  // What a token must say, as Flask-JWT-Extended's settings: the decode ones refuse a token without
  // the claim or with another value. Audiences are comma-separated.
  JWT_ENCODE_ISSUER: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  JWT_DECODE_ISSUER: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  JWT_ENCODE_AUDIENCE: Type.Optional(Type.String({ pattern: AUDIENCES, maxLength: 1000 })),
  JWT_DECODE_AUDIENCE: Type.Optional(Type.String({ pattern: AUDIENCES, maxLength: 1000 })),
  JWT_DECODE_LEEWAY: Type.Integer({ minimum: 0, maximum: 3600, default: 0 }),
  // Where a token's identity is: `sub` (4.x), or e.g. `identity`, read first when present (3.x).
  JWT_IDENTITY_CLAIM: Type.String({ pattern: CLAIM_NAME, maxLength: 64, default: 'sub' }),
  // The object Flask-JWT-Extended 3.x kept custom claims in (`user_claims`); unset, only top-level ones are read.
  JWT_USER_CLAIMS: Type.Optional(Type.String({ pattern: CLAIM_NAME, maxLength: 64 })),
  // Failed logins per window: for one username from one client address (an IPv6 /64 counts as one),
  // for one username over all addresses, and for one address over all usernames.
  LOGIN_MAX_FAILURES: Type.Integer({ minimum: 1, maximum: 100000, default: 5 }),
  LOGIN_MAX_FAILURES_PER_USERNAME: Type.Integer({ minimum: 1, maximum: 1000000, default: 50 }),
  LOGIN_MAX_FAILURES_PER_ADDRESS: Type.Integer({ minimum: 1, maximum: 1000000, default: 100 }),
  LOGIN_FAILURE_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 86400, default: 900 }),
  // Accounts one client address may create per window: each registration costs a password hash.
  REGISTER_MAX_PER_ADDRESS: Type.Integer({ minimum: 1, maximum: 1000000, default: 20 }),
  REGISTER_WINDOW_SECONDS: Type.Integer({ minimum: 1, maximum: 604800, default: 3600 }),
  ITEMS_PAGE_CACHE_MS: Type.Integer({ minimum: 0, maximum: 60000, default: 1000 }),
  PASSWORD_HASH_CONCURRENCY: Type.Integer({ minimum: 0, maximum: 256, default: 0 }),
  PASSWORD_HASH_QUEUE: Type.Integer({ minimum: 0, maximum: 100000, default: 1000 }),
  // Proxies (addresses, CIDR blocks, or loopback/linklocal/uniquelocal, comma-separated) whose
  // X-Forwarded-For, X-Forwarded-Proto and X-Request-Id are believed.
  TRUST_PROXY: Type.String({ default: '' }),
  // On SIGTERM/SIGINT: how long new requests are still served while /health/ready says 503, so the
  // proxy takes the instance out; then the whole shutdown must end within SHUTDOWN_TIMEOUT_MS.
  // Unset: 5000, or 0 with NODE_ENV=development.
  SHUTDOWN_DRAIN_MS: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 10000 }),
  // A request whose headers, or whose headers and body, have not all arrived this long after it
  // began is answered 408 and its connection closed: a slow client cannot hold a connection (and a
  // login) open. Behind nginx, which buffers bodies, they never come near; in front of clients, they
  // bound them. HTTP_IDLE_TIMEOUT_MS: how long a kept-alive connection may wait for its next request.
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 20000 }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: 60000 }),
  HTTP_IDLE_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600000, default: KEEP_ALIVE_TIMEOUT_MS }),
  // Removed: it made admin whoever registered a listed name. Refused while set (crossChecks).
  ADMIN_USERNAMES: Type.Optional(Type.String()),
  // Browser origins allowed to call the API from their pages (CORS), with credentials; none by default.
  CORS_ORIGINS: Type.String({
    default: '',
    pattern: '^(https?://[^/\\s,]+(,https?://[^/\\s,]+)*)?$',
    errorMessage: 'must be origins, scheme://host[:port] without a path, comma-separated (no *: credentials are allowed)'
  }),
  // OpenAPI document at /openapi.json and Swagger UI at /docs.
  DOCS_ENABLED: Type.Boolean({ default: true }),
  // Prometheus metrics at /metrics, on PORT, or on METRICS_PORT alone (kept off the public proxy).
  METRICS_ENABLED: Type.Boolean({ default: true }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  LOG_LEVEL: Type.Union([LogLevel], { default: 'info' }),
  // pretty: human-readable lines through pino-pretty (a development dependency), for `npm run dev`.
  LOG_FORMAT: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json' }),
  // development: no shutdown drain by default (no proxy is waiting for /health/ready to say 503).
  NODE_ENV: Type.Optional(Type.String())
})
export type Env = Static<typeof EnvSchema>

export const MIN_SECRET_BYTES = 32

/** The directory holding Gatehouse's package.json, from src/ (tests) or dist/src/ (built). */
function packageRoot (): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return process.cwd()
  }
}

/**
 * The service's environment: the process's, over the settings of a `.env` file in the current
 * directory when there is one (as dotenv and @fastify/env read it): the environment wins.
 */
export function environment (file = '.env'): Record<string, string | undefined> {
  if (!existsSync(file)) return process.env
  return { ...parseEnv(readFileSync(file, 'utf8')), ...process.env }
}

/** What a setting accepts, said in words: the values of a choice, the bounds of a number. */
function accepted (schema: TSchema): string | undefined {
  const { errorMessage } = schema as { errorMessage?: string }
  if (errorMessage !== undefined) return errorMessage
  const choices = (schema.anyOf as TSchema[] | undefined)?.flatMap((choice) => choice.anyOf ?? [choice])
  if (choices?.every((choice) => choice.const !== undefined) === true) {
    return `must be one of ${choices.map((choice) => String(choice.const)).join(', ')}`
  }
  if (schema.type === 'boolean') return 'must be true or false'
  if (schema.type === 'integer') return `must be a whole number from ${String(schema.minimum)} to ${String(schema.maximum)}`
  return undefined
}

// Settings whose value is a secret: never shown, whatever is wrong with it.
const SECRET_SETTINGS = new Set(['JWT_SECRET_KEY'])
// Settings holding a URL that may carry a password, in its user part or its query.
const URL_SETTINGS = new Set(['DATABASE_URL', 'REDIS_URL'])
const SECRET_PARAMETER = /pass|secret|token|key|auth|cred/i

/**
 * A URL as it may be shown, in any shape, a malformed one too (`redis//user:pw@host`): everything
 * before the last `@` after the scheme is hidden but a user name before a colon
 * (`redis//user:***@host`), and so are the values of query parameters that may hold a secret.
 */
export function redactUrl (value: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:?\/*/i.exec(value)?.[0] ?? ''
  let rest = value.slice(scheme.length)
  const query = rest.indexOf('?')
  let search = ''
  if (query !== -1) {
    search = rest.slice(query).replace(/([?&;][^=&;]*)=([^&;]*)/g, (whole, name: string) => SECRET_PARAMETER.test(name) ? `${name}=***` : whole)
    rest = rest.slice(0, query)
  }
  const at = rest.lastIndexOf('@')
  if (at !== -1) {
    const userinfo = rest.slice(0, at)
    const colon = userinfo.indexOf(':')
    rest = `${colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`}${rest.slice(at)}`
  }
  return scheme + rest + search
}

/** A setting's value as a message may quote it: secrets never, URLs without their secret parts. */
function shown (key: string, value: unknown): string {
  if (SECRET_SETTINGS.has(key)) return '(hidden)'
  return JSON.stringify(URL_SETTINGS.has(key) && typeof value === 'string' ? redactUrl(value) : value)
}

export class ConfigError extends Error {
  constructor (problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

function databaseConfig (env: Env) {
  const url = env.DATABASE_URL ?? `sqlite:${join(env.DATA_DIR, 'gatehouse.db')}`
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length)
    // Absolute, so every message names the very file; :memory: is SQLite's own name.
    return { kind: 'sqlite' as const, path: path === ':memory:' || isAbsolute(path) ? path : resolve(path) }
  }
  return { kind: 'postgres' as const, url, poolSize: env.DATABASE_POOL_SIZE, timeoutMs: env.DATABASE_TIMEOUT_MS }
}
export type DatabaseConfig = ReturnType<typeof databaseConfig>

function hostPorts (list: string): Array<{ host: string, port: number }> {
  return list.split(',').map((node) => {
    const [host, port] = node.split(':')
    return { host, port: Number(port) }
  })
}

function redisConfig (env: Env) {
  const shared = { keyPrefix: env.REDIS_KEY_PREFIX, timeoutMs: env.REDIS_TIMEOUT_MS }
  if (env.REDIS_CLUSTER_NODES !== undefined) return { clusterNodes: hostPorts(env.REDIS_CLUSTER_NODES), ...shared }
  if (env.REDIS_SENTINELS !== undefined) {
    return { sentinels: hostPorts(env.REDIS_SENTINELS), sentinelName: env.REDIS_SENTINEL_NAME, ...shared }
  }
  return env.REDIS_URL === undefined ? undefined : { url: env.REDIS_URL, ...shared }
}
export type RedisConfig = NonNullable<ReturnType<typeof redisConfig>>

function shutdownDrainMs (env: Env): number {
  return env.SHUTDOWN_DRAIN_MS ?? (env.NODE_ENV === 'development' ? 0 : 5000)
}

/** One audience is written as a string, several as a list, as PyJWT does. */
function audienceClaim (setting: string | undefined): string | string[] | undefined {
  const audiences = setting?.split(',')
  return audiences === undefined || audiences.length > 1 ? audiences : audiences[0]
}

function toConfig (env: Env) {
  return {
    port: env.PORT,
    host: env.HOST,
    trustProxy: proxyList(env.TRUST_PROXY),
    shutdown: { drainMs: shutdownDrainMs(env), timeoutMs: env.SHUTDOWN_TIMEOUT_MS },
    dataDir: resolve(env.DATA_DIR),
    http: { headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS, requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS, idleTimeoutMs: env.HTTP_IDLE_TIMEOUT_MS },
    database: databaseConfig(env),
    redis: redisConfig(env),
    revocationMode: env.REVOCATION_MODE,
    jwtSecret: env.JWT_SECRET_KEY,
    jwt: {
      algorithm: env.JWT_ALGORITHM,
      privateKeyFile: env.JWT_PRIVATE_KEY_FILE,
      keysDir: env.JWT_KEYS_DIR,
      jwksMaxAgeSeconds: env.JWKS_MAX_AGE_SECONDS
    },
    accessTokenExpires: env.JWT_ACCESS_TOKEN_EXPIRES,
    refreshTokenExpires: env.JWT_REFRESH_TOKEN_EXPIRES,
    verifyCacheSize: env.JWT_VERIFY_CACHE_SIZE,
    itemsPageCacheMs: env.ITEMS_PAGE_CACHE_MS,
    passwordHashing: { concurrency: env.PASSWORD_HASH_CONCURRENCY, maxQueue: env.PASSWORD_HASH_QUEUE },
    refreshRotation: env.JWT_REFRESH_ROTATION,
    refreshReuseIntervalSeconds: env.JWT_REFRESH_REUSE_INTERVAL,
    sessionsMaxPerUser: env.SESSIONS_MAX_PER_USER,
    tokenLocation: {
      headers: env.JWT_TOKEN_LOCATION.split(',').includes('headers'),
      cookies: env.JWT_TOKEN_LOCATION.split(',').includes('cookies')
    },
    cookies: {
      secure: env.JWT_COOKIE_SECURE,
      sameSite: env.JWT_COOKIE_SAMESITE,
      csrfProtect: env.JWT_COOKIE_CSRF_PROTECT,
      domain: env.JWT_COOKIE_DOMAIN,
      session: env.JWT_SESSION_COOKIE,
      access: { name: env.JWT_ACCESS_COOKIE_NAME, path: env.JWT_ACCESS_COOKIE_PATH, csrfName: env.JWT_ACCESS_CSRF_COOKIE_NAME, csrfPath: env.JWT_ACCESS_CSRF_COOKIE_PATH, csrfHeader: env.JWT_ACCESS_CSRF_HEADER_NAME.toLowerCase() },
      refresh: { name: env.JWT_REFRESH_COOKIE_NAME, path: env.JWT_REFRESH_COOKIE_PATH, csrfName: env.JWT_REFRESH_CSRF_COOKIE_NAME, csrfPath: env.JWT_REFRESH_CSRF_COOKIE_PATH, csrfHeader: env.JWT_REFRESH_CSRF_HEADER_NAME.toLowerCase() }
    },
    claims: {
      encode: { issuer: env.JWT_ENCODE_ISSUER, audience: audienceClaim(env.JWT_ENCODE_AUDIENCE) },
      rules: {
        issuer: env.JWT_DECODE_ISSUER,
        audience: env.JWT_DECODE_AUDIENCE?.split(','),
        identityClaim: env.JWT_IDENTITY_CLAIM,
        userClaims: env.JWT_USER_CLAIMS
      },
      leewayMs: env.JWT_DECODE_LEEWAY * 1000
    },
    loginThrottle: {
      maxPerPair: env.LOGIN_MAX_FAILURES,
      maxPerUsername: env.LOGIN_MAX_FAILURES_PER_USERNAME,
      maxPerAddress: env.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: env.LOGIN_FAILURE_WINDOW_SECONDS
    },
    registrationThrottle: { maxPerAddress: env.REGISTER_MAX_PER_ADDRESS, windowSeconds: env.REGISTER_WINDOW_SECONDS },
    docsEnabled: env.DOCS_ENABLED,
    cors: { origins: env.CORS_ORIGINS === '' ? [] : env.CORS_ORIGINS.split(',') },
    metrics: { enabled: env.METRICS_ENABLED, port: env.METRICS_PORT },
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT
  }
}
export type Config = ReturnType<typeof toConfig>
/** A config whose signing keys are settled (secret found or made, key files read): what the app factory takes. */
export type AppConfig = Config & { signing: Signing }

function isParsableUrl (value: string): boolean {
  try {
    const url = new URL(value)
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
    return true
  } catch {
    return false
  }
}

/** What no single setting's schema can tell. */
function crossChecks (env: Env): string[] {
  const problems: string[] = []
  // A URL that passed its pattern may still not parse; the clients would fail later with less to say.
  for (const key of ['REDIS_URL', 'DATABASE_URL'] as const) {
    const value = env[key]
    if (value === undefined || value.startsWith('sqlite:') || !/^[a-z]+:\/\//.test(value)) continue
    if (!isParsableUrl(value)) problems.push(`${key}: not a valid URL (a bad port, host or %-escape?) (got ${shown(key, value)})`)
  }
  const redisKinds = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter((key) => env[key] !== undefined)
  if (redisKinds.length > 1) problems.push(`${redisKinds.join(', ')}: set one of them, not several`)
  if (env.REVOCATION_MODE === 'mirror') {
    if (env.REDIS_CLUSTER_NODES !== undefined) {
      problems.push('REVOCATION_MODE: mirror is not built for a Redis Cluster (REDIS_CLUSTER_NODES); use strict, or a single Redis (REDIS_URL) or Sentinel (REDIS_SENTINELS)')
    } else if (env.REDIS_URL === undefined && env.REDIS_SENTINELS === undefined) {
      problems.push('REVOCATION_MODE: mirror needs Redis (REDIS_URL or REDIS_SENTINELS), whose pub/sub feeds every instance\'s copy; without Redis use strict')
    }
  }
  for (const key of ['REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const) {
    for (const node of env[key]?.split(',') ?? []) {
      const port = Number(node.split(':')[1])
      if (!(port >= 1 && port <= 65535)) problems.push(`${key}: ${JSON.stringify(node)} needs a port from 1 to 65535`)
    }
  }
  for (const entry of proxyList(env.TRUST_PROXY)) {
    if (!isProxyEntry(entry)) problems.push(`TRUST_PROXY: ${JSON.stringify(entry)} is not an IP address, a CIDR block, or loopback, linklocal or uniquelocal`)
  }
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS, which bounds the whole request')
  }
  if (shutdownDrainMs(env) >= env.SHUTDOWN_TIMEOUT_MS) {
    problems.push('SHUTDOWN_DRAIN_MS: must be below SHUTDOWN_TIMEOUT_MS, which bounds the whole shutdown')
  }
  if (env.JWT_ALGORITHM === 'HS256') {
    for (const key of ['JWT_PRIVATE_KEY_FILE', 'JWT_KEYS_DIR'] as const) {
      if (env[key] !== undefined) problems.push(`${key}: only for JWT_ALGORITHM RS256, ES256 or EdDSA; HS256 signs with JWT_SECRET_KEY`)
    }
  } else {
    if ((env.JWT_PRIVATE_KEY_FILE === undefined) === (env.JWT_KEYS_DIR === undefined)) {
      problems.push(`JWT_PRIVATE_KEY_FILE, JWT_KEYS_DIR: JWT_ALGORITHM ${env.JWT_ALGORITHM} needs one of them, not both`)
    }
    // A secret left set would look as if it mattered: it signs nothing here.
    if (env.JWT_SECRET_KEY !== undefined) problems.push(`JWT_SECRET_KEY: not used with JWT_ALGORITHM ${env.JWT_ALGORITHM}; unset it`)
  }
  for (const key of ['JWT_IDENTITY_CLAIM', 'JWT_USER_CLAIMS'] as const) {
    const claim = env[key]
    if (claim !== undefined && REGISTERED_CLAIMS.includes(claim)) problems.push(`${key}: ${claim} is a claim of its own; name another`)
  }
  if (env.JWT_USER_CLAIMS === 'sub' || (env.JWT_USER_CLAIMS !== undefined && env.JWT_USER_CLAIMS === env.JWT_IDENTITY_CLAIM)) {
    problems.push('JWT_USER_CLAIMS: must differ from the identity claim')
  }
  if (env.ADMIN_USERNAMES !== undefined) {
    problems.push('ADMIN_USERNAMES: no longer supported, as anyone who registers a listed name (again, after its ' +
      'account is deleted, or first, on a fresh install) would be an admin. Unset it, and make admins of existing ' +
      'accounts with `gatehouse user set-admin <name> on` or `gatehouse user create <name> --admin`')
  }
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== 0 && env.METRICS_PORT === env.PORT) {
    problems.push('METRICS_PORT: must differ from PORT')
  }
  return problems
}

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
      problems.push(`${key}: must be a whole number (got ${shown(key, value)})`)
    } else {
      raw[key] = value
    }
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Env
  for (const error of Value.Errors(EnvSchema, env)) {
    // A setting may say in its schema what a valid value looks like, better than the bare pattern.
    const message = accepted(error.schema) ?? error.message
    const key = error.path.slice(1)
    problems.push(`${key || 'environment'}: ${message} (got ${shown(key, error.value)})`)
  }
  if (env.JWT_SECRET_KEY !== undefined && Buffer.byteLength(env.JWT_SECRET_KEY) < MIN_SECRET_BYTES) {
    problems.push(`JWT_SECRET_KEY: must be at least ${MIN_SECRET_BYTES} bytes`)
  }
  problems.push(...crossChecks(env))
  if (problems.length > 0) throw new ConfigError(problems)
  return toConfig(env)
}
