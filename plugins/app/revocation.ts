import fp from 'fastify-plugin'
import { Cluster } from 'ioredis'
import {
  feedingRedisBackend, liveRevocations, mirroredStore, redisLossWatch, redisRevocationBackend, REPAIR_PAGE_SIZE, revocationFeed,
  revocationMirror, revocationStore, type RevocationStore, sqlRevocationBackend
} from '../../src/revocation'

declare module 'fastify' {
  interface FastifyInstance {
    revocation: RevocationStore
  }
}

export interface RevocationOptions {
  /** Redis key prefix; revocations go to Redis when the redis plugin is registered. */
  redisKeyPrefix: string
  /**
   * REVOCATION_MODE: strict (the default) reads Redis on every check; mirror, where watchRedis
   * is on, answers checks from a copy in memory. Either way every revocation is published (a single
   * Redis or Sentinel), so any mirror hears of it: another instance's, or a resource server's.
   */
  mode?: 'strict' | 'mirror'
  /**
   * Watch Redis for lost data and restore it from the database, and in mirror mode keep the
   * mirror (on by default). The admin CLI, which only writes, leaves both to the running instances.
   */
  watchRedis?: boolean
}

export default fp<RevocationOptions>(async function revocation (fastify, { redisKeyPrefix, mode = 'strict', watchRedis = true }) {
  // The SQL table is the store without Redis, and with it the durable record Redis is restored from.
  const record = sqlRevocationBackend(fastify.db, fastify.log)
  if (!fastify.hasDecorator('redis')) {
    if (mode === 'mirror') throw new Error('REVOCATION_MODE mirror needs Redis')
    const store = revocationStore(record, fastify.log)
    fastify.decorate('revocation', store)
    fastify.addHook('onClose', async () => { await store.close() })
    return
  }

  const redis = fastify.redis
  if (redis instanceof Cluster) {
    if (mode === 'mirror') throw new Error('REVOCATION_MODE mirror is not built for a Redis Cluster')
    // A Redis Cluster has no single identity or marker to watch: its losses are not detected.
    const store = revocationStore(redisRevocationBackend(redis, redisKeyPrefix), fastify.log, { record })
    fastify.decorate('revocation', store)
    fastify.addHook('onClose', async () => { await store.close() })
    return
  }

  const rows = () => liveRevocations(fastify.db, REPAIR_PAGE_SIZE)
  // Published in strict mode too: a rolling switch to mirror, a CLI run without the setting, or a
  // resource server's mirror would otherwise miss revocations written here. One PUBLISH per
  // revocation, inside the write's own script; nothing per check.
  const backend = feedingRedisBackend(redis, redisKeyPrefix)
  const watch = watchRedis ? redisLossWatch({ redis, keyPrefix: redisKeyPrefix, rows, log: fastify.log }) : undefined
  const store = revocationStore(backend, fastify.log, { record, trust: watch })
  const mirror = mode === 'mirror' && watchRedis ? revocationMirror() : undefined
  const feed = mirror === undefined ? undefined : revocationFeed({ redis, keyPrefix: redisKeyPrefix, mirror, rows, log: fastify.log })
  fastify.decorate('revocation', mirror === undefined || feed === undefined ? store : mirroredStore(store, mirror, feed.live))
  fastify.addHook('onClose', async () => {
    await feed?.close()
    mirror?.close()
    await watch?.close()
    await store.close()
  })
  // Before the app serves anything, Redis holds every live revocation of the record, and so does the mirror.
  await watch?.start()
  await feed?.start()
}, { name: 'gatehouse-revocation', fastify: '5.x', dependencies: ['gatehouse-database'] })
