import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { accessHooks, type AuthHook, type TokenChecks } from '../auth'
import { appErrorCode, sendError } from '../http'
import type { Redis } from 'ioredis'
import {
  createRedisClient, MARKER_KEY, mirroredStore, redisRevocationBackend, redisRevocationRows, revocationFeed, revocationMirror, revocationStore,
  startRedis, type DurableRecord, type RedisConnection, type RevocationFeed, type RevocationMirror
} from '../revocation'
import { createTokenVerifier, type TokenClaims } from '../tokens'
import { createJwksVerifier, type JwksVerifier } from './jwks'
import { resourceServerSettings, type ResourceServerOptionsInput } from './options'

declare module 'fastify' {
  interface FastifyInstance {
    requireAccess: onRequestAsyncHookHandler
    requireFresh: onRequestAsyncHookHandler
    requireAdmin: onRequestAsyncHookHandler
    optionalAccess: onRequestAsyncHookHandler
  }
  interface FastifyRequest {
    /** The claims of the request's Gatehouse token, once a hook let it through; null otherwise. */
    user: TokenClaims | null
  }
}

/**
 * A hook that answers its own failures in Gatehouse's error contract (status, `error` code,
 * WWW-Authenticate, Retry-After), so the host's error handler and its error format stay its own.
 * Anything else (a bug) goes to the host's error handler.
 */
function answering (hook: AuthHook): onRequestAsyncHookHandler {
  return async function gatehouseAuth (request: FastifyRequest, reply: FastifyReply) {
    try {
      await hook(request)
    } catch (error) {
      const code = appErrorCode(error as { code?: unknown })
      if (code === undefined) throw error
      const { statusCode = 500, message } = error as { statusCode?: number, message: string }
      request.log.debug({ error: code }, 'gatehouse token refused')
      return sendError(reply, statusCode, code, message)
    }
  }
}

/**
 * Gatehouse keeps an epoch marker in Redis while Redis holds every revocation of its SQL record, and
 * restores Redis from the record when it lost data (src/revocation/loss-watch.ts). The marker is
 * read in the same MGET as the check; without it Redis may be missing revocations, and the plugin,
 * which cannot read the record, answers 503 until Gatehouse has restored Redis. A Redis Cluster has
 * no marker (Gatehouse does not watch one).
 */
function lossGuard (connection: RedisConnection): DurableRecord | undefined {
  if ('clusterNodes' in connection) return undefined
  const refuse = async (): Promise<never> => { throw new Error('Redis lost revocations; Gatehouse has not restored them yet') }
  return {
    record: { name: 'redis awaiting repair', read: refuse, write: refuse, raise: refuse, add: refuse, ping: refuse, close: async () => {} },
    trust: { markerKey: MARKER_KEY, begin: () => 0, confirms: (_begun, marker) => marker != null }
  }
}

/**
 * Gatehouse's access hooks for another Fastify service (a resource server): the checks Gatehouse
 * makes without its database, in the service itself. Signature, claims, type and freshness are
 * checked in memory; revocation by token, session and user cut-off in one Redis round trip to
 * Gatehouse's own store, on every request, refusing with 503 revocation_unavailable when Redis does
 * not answer; admin rights are the token's `is_admin` claim (Gatehouse ends a demoted admin's
 * sessions, so no token outlives the right it claims).
 */
const resourceServer: FastifyPluginAsync<ResourceServerOptionsInput> = async function resourceServer (fastify, given) {
  const settings = resourceServerSettings(given)
  const client = createRedisClient(settings.redis)
  const closeRedis = await startRedis(client, settings.redis, fastify.log)
  let jwks: JwksVerifier | undefined
  let mirror: RevocationMirror | undefined
  let feed: RevocationFeed | undefined
  fastify.addHook('onClose', async () => {
    jwks?.close()
    await feed?.close()
    mirror?.close()
    await closeRedis()
  })

  let verify: TokenChecks['verify']
  if (settings.secret !== undefined) {
    const verifyToken = createTokenVerifier({
      secret: settings.secret, cacheSize: settings.verifyCacheSize, claimRules: settings.claimRules
    })
    verify = (token) => verifyToken(token, Date.now())
  } else {
    try {
      jwks = await createJwksVerifier({
        url: settings.jwksUrl!,
        algorithm: settings.algorithm,
        refetchIntervalMs: settings.jwksRefetchIntervalMs,
        cacheSize: settings.verifyCacheSize,
        claimRules: settings.claimRules,
        log: fastify.log
      })
    } catch (error) {
      await closeRedis()
      throw error
    }
    verify = jwks.verify
  }

  let store = revocationStore(redisRevocationBackend(client, settings.redisKeyPrefix), fastify.log, lossGuard(settings.redis))
  if (settings.revocationMode === 'mirror') {
    // Gatehouse publishes every revocation (strict instances too); this mirror loads Redis' live set
    // (it cannot read Gatehouse's SQL record) while the epoch marker says Redis is whole, and until
    // it is live, or whenever its feed is lost, checks read Redis as in strict mode.
    const redis = client as Redis
    mirror = revocationMirror()
    feed = revocationFeed({ redis, keyPrefix: settings.redisKeyPrefix, mirror, rows: () => redisRevocationRows(redis, settings.redisKeyPrefix), log: fastify.log })
    store = mirroredStore(store, mirror, feed.live)
    await feed.start().catch((error: unknown) => {
      fastify.log.warn({ err: error }, 'gatehouse/resource-server: the revocation mirror is not loaded yet; checks read Redis meanwhile')
    })
  }
  const hooks = accessHooks({
    headers: true,
    verify,
    isRevoked: store.isRevoked,
    isAdmin: (claims) => claims.is_admin === true
  })
  if (!fastify.hasRequestDecorator('user')) fastify.decorateRequest('user', null)
  fastify.decorate('requireAccess', answering(hooks.requireAccess))
  fastify.decorate('requireFresh', answering(hooks.requireFresh))
  fastify.decorate('requireAdmin', answering(hooks.requireAdmin))
  fastify.decorate('optionalAccess', answering(hooks.optionalAccess))
}

export default fp(resourceServer, { name: 'gatehouse-resource-server', fastify: '5.x' })
