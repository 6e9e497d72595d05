import Fastify, { type FastifyServerOptions } from 'fastify'
import database from '../../plugins/app/database'
import redis from '../../plugins/external/redis'
import revocation from '../../plugins/app/revocation'
import usersRepository from '../../plugins/app/users-repository'
import type { Config } from '../config'

/**
 * The service's stores without its HTTP side, for the admin CLI: the database (migrated, as at
 * every start), Redis when configured, the revocation store and the users repository, through the
 * same plugins the app registers. Nothing listens; the caller closes it.
 */
export async function openStores (config: Config, logger: FastifyServerOptions['logger']) {
  const stores = Fastify({ logger })
  try {
    await stores.register(database, { config })
    if (config.redis !== undefined) await stores.register(redis, config.redis)
    await stores.register(revocation, { redisKeyPrefix: config.redis?.keyPrefix ?? '', mode: config.revocationMode, watchRedis: false })
    await stores.register(usersRepository)
    await stores.ready()
  } catch (error) {
    await stores.close().catch(() => {})
    throw error
  }
  return stores
}

export type Stores = Awaited<ReturnType<typeof openStores>>
