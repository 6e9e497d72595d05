import { Cluster, type Redis } from 'ioredis'
import { mgetBatcher } from './mget-batcher'
import { nowSeconds, type RevocationBackend } from './store'

/**
 * Stores ARGV[1] under KEYS[1] for ARGV[2] seconds unless a larger number is stored there: two
 * cut-offs of one user (two instances, or a repair replaying an older one) keep the later.
 */
export const RAISE_SCRIPT = `local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 0`

/**
 * Revocations as Redis keys whose TTL is the remaining lifetime of what they revoke. The client is
 * set up to fail fast (no offline queue, a command timeout), so a dead Redis costs a request at most
 * the timeout, and the request is refused (fail closed).
 */
export function redisRevocationBackend (redis: Redis | Cluster, keyPrefix: string): RevocationBackend {
  // A batch holds the keys of many users, which a cluster keeps in different slots: there each
  // check is its own MGET, whose keys share their user's hash tag and so one slot.
  const mget = redis instanceof Cluster
    ? async (keys: string[]) => await redis.mget(keys)
    : mgetBatcher(async (keys) => await redis.mget(keys))
  return {
    name: 'redis',
    read (keys) {
      const prefixed = new Array<string>(keys.length)
      for (let i = 0; i < keys.length; i++) prefixed[i] = keyPrefix + keys[i]
      return mget(prefixed)
    },
    async write (key, value, expiresAt) {
      await redis.set(keyPrefix + key, value, 'EX', Math.max(1, expiresAt - nowSeconds()))
    },
    async raise (key, value, expiresAt) {
      await redis.eval(RAISE_SCRIPT, 1, keyPrefix + key, value, Math.max(1, expiresAt - nowSeconds()))
    },
    async add (key, value, expiresAt) {
      return await redis.set(keyPrefix + key, value, 'EX', Math.max(1, expiresAt - nowSeconds()), 'NX') === 'OK'
    },
    ping: async () => await redis.ping(),
    async close () {}
  }
}
