import fp from 'fastify-plugin'
import { Cluster } from 'ioredis'
import {
  liveRevocations, redisLossWatch, redisRevocationBackend, REPAIR_PAGE_SIZE, revocationStore, type RevocationStore, sqlRevocationBackend
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
   * Watch Redis for lost data and restore it from the database (on by default). The admin CLI,
   * which only writes, leaves it to the running instances.
   */
  watchRedis?: boolean
}

export default fp<RevocationOptions>(async function revocation (fastify, { redisKeyPrefix, watchRedis = true }) {
  // The SQL table is the store without Redis, and with it the durable record Redis is restored from.
  const record = sqlRevocationBackend(fastify.db, fastify.log)
  if (!fastify.hasDecorator('redis')) {
    const store = revocationStore(record, fastify.log)
    fastify.decorate('revocation', store)
    fastify.addHook('onClose', async () => { await store.close() })
    return
  }

  const redis = fastify.redis
  const backend = redisRevocationBackend(redis, redisKeyPrefix)
  // A Redis Cluster has no single identity or marker to watch: its losses are not detected.
  const watch = watchRedis && !(redis instanceof Cluster)
    ? redisLossWatch({ redis, keyPrefix: redisKeyPrefix, rows: () => liveRevocations(fastify.db, REPAIR_PAGE_SIZE), log: fastify.log })
    : undefined
  const store = revocationStore(backend, fastify.log, { record, trust: watch })
  fastify.decorate('revocation', store)
  fastify.addHook('onClose', async () => {
    await watch?.close()
    await store.close()
  })
  // Before the app serves anything, Redis holds every live revocation of the record.
  await watch?.start()
}, { name: 'gatehouse-revocation', fastify: '5.x', dependencies: ['gatehouse-database'] })
