import fp from 'fastify-plugin'
import { loginThrottle, type LoginThrottle, type ThrottleOptions } from '../../src/accounts'

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: LoginThrottle
  }
}

export default fp<ThrottleOptions>(async function throttle (fastify, options) {
  fastify.decorate('loginThrottle', loginThrottle(fastify.expiringStore, options, fastify.log))
}, { name: 'gatehouse-login-throttle', fastify: '5.x', dependencies: ['gatehouse-revocation'] })
