import fp from 'fastify-plugin'
import { redisRevocationBackend, revocationStore, type RevocationBackend, type RevocationStore, sqlRevocationBackend } from '../../src/revocation'

declare module 'fastify' {
  interface FastifyInstance {
    revocation: RevocationStore
    /** Where revocations live, for other short-lived shared state (login failure counts). */
    expiringStore: RevocationBackend
  }
}

export interface RevocationOptions {
  /** Redis key prefix; revocations go to Redis when the redis plugin is registered. */
  redisKeyPrefix: string
}

export default fp<RevocationOptions>(async function revocation (fastify, { redisKeyPrefix }) {
  const backend = fastify.hasDecorator('redis')
    ? redisRevocationBackend(fastify.redis, redisKeyPrefix)
    : sqlRevocationBackend(fastify.db, fastify.log)
  const store = revocationStore(backend, fastify.log)
  fastify.decorate('revocation', store)
  fastify.decorate('expiringStore', backend)
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'gatehouse-revocation', fastify: '5.x', dependencies: ['gatehouse-database'] })
