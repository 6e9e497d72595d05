import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { RedisConnection, RedisNode } from '../revocation'
import type { ClaimRules } from '../tokens'

const Nodes = Type.Union([
  Type.String({ pattern: '^[^\\s,:]+:[0-9]{1,5}(,[^\\s,:]+:[0-9]{1,5})*$' }),
  Type.Array(Type.Object({ host: Type.String({ minLength: 1 }), port: Type.Integer({ minimum: 1, maximum: 65535 }) }), { minItems: 1 })
])

/**
 * The plugin's options, named after Gatehouse's settings (JWT_SECRET_KEY is `secret`, REDIS_URL is
 * `redisUrl`…), so a resource server is configured from the same values as Gatehouse.
 */
export const ResourceServerOptionsSchema = Type.Object({
  /** HS256: Gatehouse's JWT_SECRET_KEY. */
  secret: Type.Optional(Type.String({ minLength: 32 })),
  /** RS256, ES256, EdDSA: Gatehouse's /.well-known/jwks.json. */
  jwksUrl: Type.Optional(Type.String({ pattern: '^https?://.+' })),
  /** Pins the JWKS algorithm; by default the one the first JWKS names. */
  algorithm: Type.Optional(Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')])),
  /** An unknown kid fetches the JWKS again at most this often. */
  jwksRefetchIntervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://.+$' })),
  /** `host:port,host:port` as REDIS_CLUSTER_NODES, or a list of `{ host, port }`. */
  redisClusterNodes: Type.Optional(Nodes),
  redisSentinels: Type.Optional(Nodes),
  redisSentinelName: Type.Optional(Type.String({ minLength: 1 })),
  redisKeyPrefix: Type.String({ pattern: '^[^{}]*$', maxLength: 64, default: 'gatehouse:' }),
  redisTimeoutMs: Type.Integer({ minimum: 10, maximum: 60000, default: 250 }),
  /** When set, tokens must carry exactly this `iss`. */
  issuer: Type.Optional(Type.String({ minLength: 1 })),
  /** When set, tokens' `aud` must be this or a list holding it. */
  audience: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Gatehouse's REVOCATION_MODE: `strict` reads Redis on every check; `mirror` answers from the live
   * revocations in memory, fed by Gatehouse's pub/sub (a single Redis or Sentinel).
   */
  revocationMode: Type.Union([Type.Literal('strict'), Type.Literal('mirror')], { default: 'strict' }),
  /** Verified tokens remembered (revocation is still checked on every request); 0 turns it off. */
  verifyCacheSize: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10_000 })
}, { additionalProperties: false })

export type ResourceServerOptions = Static<typeof ResourceServerOptionsSchema>
/** What callers write: every option with a default may be left out. */
export type ResourceServerOptionsInput = Partial<ResourceServerOptions>

function nodes (value: Static<typeof Nodes>): RedisNode[] {
  if (typeof value !== 'string') return value.map(({ host, port }) => ({ host, port }))
  return value.split(',').map((node) => {
    const [host, port] = node.split(':')
    return { host, port: Number(port) }
  })
}

/** Checks the options, with defaults filled in, or throws naming every problem. */
export function resourceServerSettings (given: ResourceServerOptionsInput) {
  // Fastify's own registration options ride along with a plugin's: they are not ours to check.
  const { prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...own } = given as Record<string, unknown>
  const options = Value.Default(ResourceServerOptionsSchema, structuredClone(own)) as ResourceServerOptions
  const problems = [...Value.Errors(ResourceServerOptionsSchema, options)].map((error) => `${error.path.slice(1) || 'options'}: ${error.message}`)
  if ((options.secret === undefined) === (options.jwksUrl === undefined)) problems.push('secret, jwksUrl: give one of them (HS256 or a JWKS), not both')
  if (options.secret !== undefined && options.algorithm !== undefined) problems.push('algorithm: only with jwksUrl; a secret is HS256')
  const stores = [options.redisUrl, options.redisClusterNodes, options.redisSentinels].filter((value) => value !== undefined).length
  if (stores !== 1) problems.push('redisUrl, redisClusterNodes, redisSentinels: give exactly one: revocations are checked in Gatehouse\'s Redis')
  if ((options.redisSentinels === undefined) !== (options.redisSentinelName === undefined)) problems.push('redisSentinels, redisSentinelName: give both or neither')
  if (options.revocationMode === 'mirror' && options.redisClusterNodes !== undefined) problems.push('revocationMode: mirror needs redisUrl or redisSentinels; it is not built for a Redis Cluster')
  if (problems.length > 0) throw new Error(`gatehouse/resource-server: invalid options:\n  ${problems.join('\n  ')}`)

  const timeoutMs = options.redisTimeoutMs
  const redis: RedisConnection = options.redisClusterNodes !== undefined
    ? { clusterNodes: nodes(options.redisClusterNodes), timeoutMs }
    : options.redisSentinels !== undefined
      ? { sentinels: nodes(options.redisSentinels), sentinelName: options.redisSentinelName!, timeoutMs }
      : { url: options.redisUrl!, timeoutMs }
  // Gatehouse's own claim rules (JWT_DECODE_ISSUER, JWT_DECODE_AUDIENCE), for Gatehouse's verifier.
  const claimRules: ClaimRules = {
    identityClaim: 'sub', issuer: options.issuer, audience: options.audience === undefined ? undefined : [options.audience]
  }
  return { ...options, redis, claimRules }
}
