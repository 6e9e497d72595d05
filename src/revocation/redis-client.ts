import Redis, { Cluster } from 'ioredis'

export interface RedisNode {
  host: string
  port: number
}

/**
 * Where Redis is: one server (a URL), a Redis Cluster (some of its nodes), or a server that Redis
 * Sentinel names (the sentinels and the master's name); and how long a command may take.
 */
export type RedisConnection = (
  | { url: string }
  | { clusterNodes: RedisNode[] }
  | { sentinels: RedisNode[], sentinelName: string }
) & { timeoutMs: number }

export const REDIS_CONNECT_TIMEOUT_MS = 2000
const RESTART_DELAY_MS = 500
const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 2000)

/** Where the client connects, for logs and errors: never the password. */
export function describeRedis (connection: RedisConnection): string {
  const nodes = (list: RedisNode[]): string => list.map(({ host, port }) => `${host}:${port}`).join(',')
  if ('clusterNodes' in connection) return `cluster ${nodes(connection.clusterNodes)}`
  if ('sentinels' in connection) return `sentinel ${connection.sentinelName} via ${nodes(connection.sentinels)}`
  const { protocol, host } = new URL(connection.url)
  return `${protocol}//${host}`
}

/**
 * A client that fails fast: nothing queued while disconnected, a command timeout, one retry; it
 * reconnects by itself. Created unconnected (connect with startRedis).
 */
export function createRedisClient (connection: RedisConnection): Redis | Cluster {
  const failFast = {
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: connection.timeoutMs,
    maxRetriesPerRequest: 1
  }
  const shared = {
    lazyConnect: true,
    enableOfflineQueue: false,
    // Commands issued in one tick share a write: measured +25–40% at 100–500 concurrent commands.
    enableAutoPipelining: true
  }
  // On a single node the revocation checks' MGETs are coalesced already (mget-batcher.ts): one
  // command a turn, which auto-pipelining would only wrap in a pipeline of one, a turn later.
  const batchedReads = { autoPipeliningIgnoredCommands: ['mget'] }
  if ('clusterNodes' in connection) {
    return new Cluster(connection.clusterNodes, {
      ...shared,
      clusterRetryStrategy: retryStrategy,
      // A node that restarts with its slots unchanged is reconnected, as a single Redis would be.
      clusterNodeRetryStrategy: retryStrategy,
      slotsRefreshTimeout: REDIS_CONNECT_TIMEOUT_MS,
      // The client resends a command after a failover, a MOVED or a CLUSTERDOWN; bounded so that a
      // cluster that is down costs a request about timeoutMs too, not ioredis' 16 tries 100 ms apart.
      maxRedirections: 3,
      retryDelayOnFailover: Math.ceil(connection.timeoutMs / 4),
      retryDelayOnClusterDown: Math.ceil(connection.timeoutMs / 4),
      retryDelayOnTryAgain: Math.ceil(connection.timeoutMs / 4),
      redisOptions: failFast
    })
  }
  if ('sentinels' in connection) {
    return new Redis({
      ...shared,
      ...failFast,
      ...batchedReads,
      // Each try asks the sentinels where the master is: after a failover the new master is found
      // within timeoutMs of the switch, so requests fail closed for the failover time plus that.
      retryStrategy: (attempt: number) => Math.min(attempt * 50, Math.max(connection.timeoutMs, 100)),
      sentinels: connection.sentinels,
      name: connection.sentinelName,
      sentinelRetryStrategy: retryStrategy,
      sentinelCommandTimeout: connection.timeoutMs,
      // Not ioredis' failoverDetector: a +switch-master arriving while it reconnects ends the client
      // for good (ioredis 6.0). A master demoted without losing its connection is left on the first
      // write it refuses: a write that meets a demoted master reconnects, through the sentinels.
      reconnectOnError: (error) => error.message.startsWith('READONLY') ? 2 : false
    })
  }
  return new Redis(connection.url, { ...shared, ...failFast, ...batchedReads, retryStrategy })
}

type Log = { info: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void }

/**
 * Keeps a client alive and says so: logs the connection coming and going (without an error
 * listener ioredis errors would crash the process), starts it over when ioredis gives up, and
 * returns how to close it. Then connects, or throws (having closed it) when Redis does not answer
 * within REDIS_CONNECT_TIMEOUT_MS: a service that starts is a service that works.
 */
export async function startRedis (client: Redis | Cluster, connection: RedisConnection, log: Log): Promise<() => Promise<void>> {
  const where = describeRedis(connection)
  let connected = false
  client.on('ready', () => {
    if (!connected) log.info({ redis: where }, 'redis connected')
    connected = true
  })
  // The socket's own error (ECONNREFUSED, a DNS failure…) says more than the client's "Connection is closed.".
  let lastError: Error | undefined
  client.on('error', (error) => {
    lastError = error
    if (connected) log.warn({ err: error, redis: where }, 'redis connection lost')
    connected = false
  })
  // A server that goes away may only close the socket, with no error until a reconnect fails.
  client.on('close', () => {
    if (connected) log.warn({ redis: where }, 'redis connection lost')
    connected = false
  })
  // ioredis gives up for good when a reconnection fails in some ways (a sentinel connection closed
  // half-way): the service would answer 503 until restarted. Until the app closes, start over.
  let closing = false
  client.on('end', () => {
    if (closing) return
    log.warn({ redis: where }, 'redis client gave up reconnecting; starting over')
    setTimeout(() => { if (!closing) client.connect().catch(() => {}) }, RESTART_DELAY_MS).unref()
  })
  // quit() needs a writable connection (there is no offline queue): while Redis is down it would
  // reject and leave the client reconnecting for ever. Quit when connected, else just disconnect.
  async function close (): Promise<void> {
    closing = true
    if (client.status === 'ready') await client.quit().catch(() => {})
    client.disconnect()
  }

  // A first attempt that fails (a connection closed during the handshake, a refused one while Redis
  // restarts) is retried by the client itself: wait for it to be ready, within the same bound.
  let firstError: Error | undefined
  const ready = new Promise<void>((resolve) => { client.once('ready', () => { resolve() }) })
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      client.connect().catch(async (error: Error) => {
        firstError = error
        await ready
      }),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => { reject(lastError ?? firstError ?? new Error('timed out')) }, REDIS_CONNECT_TIMEOUT_MS)
      })
    ])
  } catch (error) {
    await close()
    throw new Error(`Redis at ${where} did not answer: ${(error as Error).message}`)
  } finally {
    clearTimeout(timer)
  }
  return close
}
