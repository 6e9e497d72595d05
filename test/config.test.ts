import { statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config'
import { readOrCreateSecret } from '../src/tokens'
import { tempDir } from './helpers'

const SECRET = 'k'.repeat(32)

t.test('defaults', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    port: 3000,
    host: '127.0.0.1',
    // The installation's data/ folder, whatever the current directory.
    database: { kind: 'sqlite', path: resolve(__dirname, '..', 'data', 'gatehouse.db') },
    dataDir: resolve(__dirname, '..', 'data'),
    shutdown: { drainMs: 5000 },
    redis: undefined,
    jwtSecret: undefined,
    accessTokenExpires: 900,
    refreshTokenExpires: 2592000,
    logLevel: 'info'
  })
  t.equal(loadConfig({ DATABASE_URL: 'sqlite:rel/x.db' }).database.path, join(process.cwd(), 'rel', 'x.db'), 'a relative path, made absolute')
  t.equal(loadConfig({ DATA_DIR: '/srv/gh' }).database.path, '/srv/gh/gatehouse.db')
  t.equal(loadConfig({ NODE_ENV: 'development' }).shutdown.drainMs, 0, 'no drain in development')
  t.equal(loadConfig({ NODE_ENV: 'development', SHUTDOWN_DRAIN_MS: '300' }).shutdown.drainMs, 300, 'unless asked for')
})

t.test('each setting\'s error names it and what it accepts', async (t) => {
  for (const [env, message] of [
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT: must be one of json, pretty (got "xml")'],
    [{ JWT_COOKIE_SAMESITE: 'Lax ' }, 'JWT_COOKIE_SAMESITE: must be one of strict, lax, none (got "Lax ")'],
    [{ JWT_ALGORITHM: 'HS512' }, 'JWT_ALGORITHM: must be one of HS256, RS256, ES256, EdDSA (got "HS512")'],
    [{ DOCS_ENABLED: 'yes' }, 'DOCS_ENABLED: must be true or false (got "yes")'],
    [{ PORT: '70000' }, 'PORT: must be a whole number from 0 to 65535 (got 70000)'],
    [{ REVOCATION_MODE: 'bogus' }, 'REVOCATION_MODE: must be one of strict, mirror (got "bogus")']
  ] as const) {
    const error = (() => { try { loadConfig(env) } catch (e) { return e as Error } })()
    t.ok(error?.message.split('\n').includes(`  ${message}`), message)
  }
})

t.test('values are converted and empty strings count as unset', async (t) => {
  const config = loadConfig({
    PORT: '8080',
    HOST: '',
    DATABASE_URL: 'sqlite:/tmp/x.db',
    REDIS_URL: 'rediss://user:pw@redis.example:6380/2',
    JWT_SECRET_KEY: SECRET,
    JWT_ACCESS_TOKEN_EXPIRES: '60',
    LOG_LEVEL: 'warn'
  })
  t.equal(config.port, 8080)
  t.equal(config.host, '127.0.0.1')
  t.same(config.database, { kind: 'sqlite', path: '/tmp/x.db' })
  t.same(config.redis, { url: 'rediss://user:pw@redis.example:6380/2', keyPrefix: 'gatehouse:', timeoutMs: 250 })
  t.equal(config.accessTokenExpires, 60)
  t.equal(config.logLevel, 'warn')
})

t.test('DATABASE_URL postgres:// or postgresql:// selects PostgreSQL', async (t) => {
  for (const url of ['postgres://gatehouse:pw@db.example:5433/gatehouse', 'postgresql://db.example/gatehouse?sslmode=require']) {
    t.same(loadConfig({ DATABASE_URL: url }).database, { kind: 'postgres', url, poolSize: 10, timeoutMs: 5000 }, url)
  }
  const tuned = loadConfig({ DATABASE_URL: 'postgres://db/gatehouse', DATABASE_POOL_SIZE: '25', DATABASE_TIMEOUT_MS: '1500' })
  t.same(tuned.database, { kind: 'postgres', url: 'postgres://db/gatehouse', poolSize: 25, timeoutMs: 1500 })
})

t.test('a bad value stops the start with a message naming it', async (t) => {
  for (const [env, names] of [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL: must be sqlite:<path> or postgres://'],
    [{ DATABASE_URL: 'postgres:/db' }, 'DATABASE_URL: must be sqlite:<path> or postgres://'],
    [{ DATABASE_URL: 'postgres://' }, 'DATABASE_URL: must be sqlite:<path> or postgres://'],
    [{ DATABASE_URL: 'sqlite:' }, 'DATABASE_URL: must be sqlite:<path> or postgres://'],
    [{ DATABASE_POOL_SIZE: '0' }, 'DATABASE_POOL_SIZE'],
    [{ DATABASE_TIMEOUT_MS: '1s' }, 'DATABASE_TIMEOUT_MS'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ REDIS_KEY_PREFIX: 'a{b}' }, 'REDIS_KEY_PREFIX'],
    [{ JWT_SECRET_KEY: 'too short' }, 'JWT_SECRET_KEY: must be at least 32 bytes'],
    [{ JWT_ACCESS_TOKEN_EXPIRES: '0' }, 'JWT_ACCESS_TOKEN_EXPIRES'],
    [{ JWT_REFRESH_TOKEN_EXPIRES: '1.5' }, 'JWT_REFRESH_TOKEN_EXPIRES'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL']
  ] as const) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message: new RegExp(names.replace(/[{}]/g, '.')) }, JSON.stringify(env))
  }
  const error = (() => { try { loadConfig({ PORT: 'x', LOG_LEVEL: 'y' }) } catch (e) { return e } })()
  t.type(error, ConfigError)
  t.match((error as Error).message, /PORT[\s\S]*LOG_LEVEL|LOG_LEVEL[\s\S]*PORT/, 'every problem is listed at once')
})

t.test('the generated secret file', async (t) => {
  const file = join(tempDir(t), 'data', 'jwt-secret')
  const first = readOrCreateSecret(file)
  t.equal(first.created, true)
  t.ok(Buffer.from(first.secret, 'base64url').length >= 32, '256 random bits')
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only')
  const second = readOrCreateSecret(file)
  t.same(second, { secret: first.secret, created: false }, 'generated once, then reused')
})

t.test('Redis Cluster, trusted proxies and shutdown settings', async (t) => {
  const cluster = loadConfig({ REDIS_CLUSTER_NODES: 'redis-1:7000,10.0.0.2:7001', REDIS_KEY_PREFIX: 'gh:' })
  t.same(cluster.redis, { clusterNodes: [{ host: 'redis-1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], keyPrefix: 'gh:', timeoutMs: 250 })
  t.same(loadConfig({ REDIS_SENTINELS: 's1:26379,10.0.0.3:26380', REDIS_SENTINEL_NAME: 'gatehouse' }).redis,
    { sentinels: [{ host: 's1', port: 26379 }, { host: '10.0.0.3', port: 26380 }], sentinelName: 'gatehouse', keyPrefix: 'gatehouse:', timeoutMs: 250 })
  t.same(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8, 127.0.0.1 ,fd00::/8,::1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '::1'])
  t.same(loadConfig({}).trustProxy, [], 'no proxy is trusted by default')
  t.same(loadConfig({ TRUST_PROXY: 'loopback, uniquelocal,linklocal' }).trustProxy, ['loopback', 'uniquelocal', 'linklocal'], 'the names Fastify\'s proxy-addr knows')
  t.same(loadConfig({}).shutdown, { drainMs: 5000, timeoutMs: 10000 })
  t.same(loadConfig({ SHUTDOWN_DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '2000' }).shutdown, { drainMs: 0, timeoutMs: 2000 })
  t.equal(loadConfig({}).revocationMode, 'strict', 'revocation is strict by default')
  t.equal(loadConfig({ REVOCATION_MODE: 'mirror', REDIS_URL: 'redis://r' }).revocationMode, 'mirror')
  t.equal(loadConfig({ REVOCATION_MODE: 'mirror', REDIS_SENTINELS: 's1:26379' }).revocationMode, 'mirror', 'mirror with Sentinel')

  for (const [env, message] of [
    [{ REDIS_CLUSTER_NODES: 'redis-1' }, /REDIS_CLUSTER_NODES: must be host:port/],
    [{ REDIS_CLUSTER_NODES: 'redis-1:7000,' }, /REDIS_CLUSTER_NODES: must be host:port/],
    [{ REDIS_CLUSTER_NODES: 'redis-1:70000' }, /REDIS_CLUSTER_NODES: "redis-1:70000" needs a port from 1 to 65535/],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://b' }, /REDIS_URL, REDIS_CLUSTER_NODES: set one of them, not several/],
    [{ REDIS_SENTINELS: 'a:1', REDIS_URL: 'redis://b' }, /REDIS_URL, REDIS_SENTINELS: set one of them/],
    [{ REDIS_SENTINELS: 's1:26379,s2' }, /REDIS_SENTINELS: must be host:port/],
    [{ REDIS_SENTINELS: 's1:0' }, /REDIS_SENTINELS: "s1:0" needs a port from 1 to 65535/],
    [{ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'my master' }, /REDIS_SENTINEL_NAME/],
    [{ TRUST_PROXY: '10.0.0.0/33' }, /TRUST_PROXY: "10.0.0.0\/33" is not an IP address, a CIDR block, or loopback, linklocal or uniquelocal/],
    [{ TRUST_PROXY: '127.0.0.1,nginx' }, /TRUST_PROXY: "nginx" is not/],
    [{ TRUST_PROXY: '::1/129' }, /TRUST_PROXY/],
    [{ SHUTDOWN_DRAIN_MS: '5000', SHUTDOWN_TIMEOUT_MS: '5000' }, /SHUTDOWN_DRAIN_MS: must be below SHUTDOWN_TIMEOUT_MS/],
    [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, /SHUTDOWN_TIMEOUT_MS: must be a whole number/],
    [{ REVOCATION_MODE: 'mirror' }, /REVOCATION_MODE: mirror needs Redis \(REDIS_URL or REDIS_SENTINELS\)/],
    [{ REVOCATION_MODE: 'mirror', REDIS_CLUSTER_NODES: 'a:1' }, /REVOCATION_MODE: mirror is not built for a Redis Cluster \(REDIS_CLUSTER_NODES\)/]
  ] as const) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  }
})

t.test('a refused URL is shown without its password', async (t) => {
  t.throws(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2secret@db:3306/x' }), {
    message: /mysql:\/\/admin:\*\*\*@db:3306\/x/
  })
  const error = (() => { try { loadConfig({ REDIS_URL: 'http://user:hunter2secret@r:6379' }) } catch (e) { return e as Error } })()
  t.notMatch(error?.message ?? '', /hunter2secret/)
})

t.test('Flask-JWT-Extended migration settings (issue 13)', async (t) => {
  const config = loadConfig({ JWT_ENCODE_AUDIENCE: 'a', JWT_DECODE_AUDIENCE: 'a,b', JWT_DECODE_LEEWAY: '5', JWT_COOKIE_DOMAIN: '.example.com' })
  t.same(config.claims, { encode: { issuer: undefined, audience: 'a' }, rules: { issuer: undefined, audience: ['a', 'b'], identityClaim: 'sub', userClaims: undefined }, leewayMs: 5000 })
  t.equal(loadConfig({ JWT_ENCODE_AUDIENCE: 'a,b' }).claims.encode.audience?.length, 2, 'several audiences are written as a list')
  t.same(loadConfig({}).cookies.refresh, { name: 'refresh_token_cookie', path: '/', csrfName: 'csrf_refresh_token', csrfPath: '/', csrfHeader: 'x-csrf-token' }, 'Flask-JWT-Extended\'s defaults')
  for (const [env, message] of [
    [{ JWT_IDENTITY_CLAIM: 'type' }, /JWT_IDENTITY_CLAIM: type is a claim of its own/],
    [{ JWT_IDENTITY_CLAIM: 'identity', JWT_USER_CLAIMS: 'identity' }, /JWT_USER_CLAIMS: must differ/],
    [{ JWT_REFRESH_COOKIE_PATH: 'refresh' }, /JWT_REFRESH_COOKIE_PATH/],
    [{ JWT_ACCESS_COOKIE_NAME: 'a;b' }, /JWT_ACCESS_COOKIE_NAME/],
    [{ JWT_DECODE_AUDIENCE: 'a,,b' }, /JWT_DECODE_AUDIENCE/],
    [{ JWT_DECODE_LEEWAY: '-1' }, /JWT_DECODE_LEEWAY/]
  ] as const) {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message }, JSON.stringify(env))
  }
})
