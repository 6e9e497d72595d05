import fastifyRedis from '@fastify/redis'
import fp from 'fastify-plugin'
import type { RedisConfig } from '../../src/config'
import { createRedisClient, startRedis } from '../../src/revocation'

/**
 * A Redis client, to one server (REDIS_URL), the master a set of sentinels names (REDIS_SENTINELS)
 * or a Redis Cluster (REDIS_CLUSTER_NODES), that fails
 * fast: the app does not start unless Redis answers, a request never waits on a dead connection
 * longer than `timeoutMs` (no offline queue, a command timeout), and the client reconnects by
 * itself, so service resumes when Redis is back. `fastify.redis` is @fastify/redis' own decorator,
 * given this client; closing stays here, where a dead connection is disconnected, not quit. The
 * client is made in src/revocation, as the resource-server plugin makes its own.
 */
export default fp<RedisConfig>(async function redis (fastify, config) {
  const client = createRedisClient(config)
  const close = await startRedis(client, config, fastify.log)
  await fastify.register(fastifyRedis, { client, closeClient: false })
  fastify.addHook('onClose', close)
}, { name: 'gatehouse-redis-client', fastify: '5.x' })
