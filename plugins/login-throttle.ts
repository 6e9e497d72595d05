import fp from 'fastify-plugin'
import { loginThrottle, type LoginThrottle, type ThrottleOptions } from '../src/login-throttle'

declare module 'fastify' {
  interface FastifyInstance {
    loginThrottle: LoginThrottle
  }
}

export default fp<ThrottleOptions>(async function throttle (fastify, options) {
  fastify.decorate('loginThrottle', loginThrottle(fastify.expiringStore, options, fastify.log))
}, { name: 'login-throttle', dependencies: ['revocation'] })
