import fp from 'fastify-plugin'
import {
  loginThrottle, redisAttemptStore, registrationThrottle, sqlAttemptStore,
  type LoginThrottle, type RegistrationThrottle, type RegistrationThrottleOptions, type ThrottleOptions
} from '../../src/accounts'

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: LoginThrottle
    registrationThrottle: RegistrationThrottle
  }
}

export interface ThrottlePluginOptions {
  login: ThrottleOptions
  registration: RegistrationThrottleOptions
  /** Redis key prefix; the counts go to Redis when the redis plugin is registered, as revocations do. */
  redisKeyPrefix: string
}

export default fp<ThrottlePluginOptions>(async function throttle (fastify, { login, registration, redisKeyPrefix }) {
  const store = fastify.hasDecorator('redis')
    ? redisAttemptStore(fastify.redis, redisKeyPrefix)
    : sqlAttemptStore(fastify.db, fastify.log)
  fastify.decorate('loginThrottle', loginThrottle(store, login, fastify.log))
  fastify.decorate('registrationThrottle', registrationThrottle(store, registration, fastify.log))
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'gatehouse-login-throttle', fastify: '5.x', dependencies: ['gatehouse-database'] })
