import fp from 'fastify-plugin'
import { redisRefreshAnswers, refreshRetries, type RefreshRetries, sqlRefreshAnswers } from '../../src/sessions'

declare module 'fastify' {
  interface FastifyInstance {
    refreshRetries: RefreshRetries
  }
}

export interface RefreshRetriesOptions {
  /** JWT_REFRESH_REUSE_INTERVAL; 0: a spent refresh token presented again is always reuse. */
  intervalSeconds: number
  redisKeyPrefix: string
}

// Answers wait where revocations live: Redis when configured (shared by every instance), else SQL.
export default fp<RefreshRetriesOptions>(async function retries (fastify, { intervalSeconds, redisKeyPrefix }) {
  const answers = fastify.hasDecorator('redis')
    ? redisRefreshAnswers(fastify.redis, redisKeyPrefix, fastify.log)
    : sqlRefreshAnswers(fastify.db, fastify.log)
  fastify.decorate('refreshRetries', refreshRetries(fastify.revocation, answers, intervalSeconds, fastify.log))
  fastify.addHook('onClose', async () => { await answers.close() })
}, { name: 'gatehouse-refresh-retries', fastify: '5.x', dependencies: ['gatehouse-database', 'gatehouse-revocation'] })
