import fp from 'fastify-plugin'
import { passwordHasher, type HashingOptions, type PasswordHasher } from '../../src/accounts'

declare module 'fastify' {
  interface FastifyInstance {
    passwords: PasswordHasher
  }
}

/** One password hasher for every route, so its bound on concurrent hashes holds for the whole app. */
export default fp<HashingOptions>(async function passwords (fastify, options) {
  fastify.decorate('passwords', await passwordHasher(options))
}, { name: 'gatehouse-passwords', fastify: '5.x' })
