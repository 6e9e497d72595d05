import { channel as diagnosticsChannel } from 'node:diagnostics_channel'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { RevocationMirror } from './mirror'
import { redisRevocationBackend } from './redis'
import type { RevocationRow } from './sql'
import { nowSeconds, type RevocationBackend } from './store'

/** The pub/sub channel, under the key prefix, that carries every revocation to every mirror. */
export const FEED_CHANNEL = 'revocations'
/** Where each applied message is told, for measuring (npm run bench:mirror): `{ key, sentAtMs, appliedAtMs }`. */
export const MIRROR_APPLIED_CHANNEL = 'gatehouse:revocation-mirror:applied'

// A write and its message in one script: Redis holds a revocation if and only if it was published.
const WRITE_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 0`
// redis.ts' RAISE_SCRIPT, then the message: a mirror raises the same way.
const RAISE_SCRIPT = `local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 0`

// A PING on the subscribed connection this often; its answer comes after every message published
// before it, so each answer proves the mirror whole up to when the PING was sent.
const HEARTBEAT_MS = 100
// A mirror proven whole longer ago than this answers nothing: checks read Redis until it is again.
export const STALE_AFTER_MS = 1000
const RETRY_MS = 1000
const RESTART_DELAY_MS = 500

/** Wall-clock milliseconds with a fraction: comparable between processes on one machine. */
const wallClockMs = (): number => performance.timeOrigin + performance.now()

interface Message {
  key: string
  value: number
  expiresAt: number
  sentAtMs: number
}

function parseMessage (text: string): Message | undefined {
  try {
    const message = JSON.parse(text) as Partial<Message>
    if (typeof message.key === 'string' && Number.isFinite(message.value) && Number.isFinite(message.expiresAt)) return message as Message
  } catch {}
  return undefined
}

/** The Redis backend whose writes also publish each revocation on the feed (REVOCATION_MODE=mirror). */
export function feedingRedisBackend (redis: Redis, keyPrefix: string): RevocationBackend {
  const channel = keyPrefix + FEED_CHANNEL
  async function writeAndPublish (script: string, key: string, value: number, expiresAt: number): Promise<void> {
    const message = JSON.stringify({ key, value, expiresAt, sentAtMs: wallClockMs() })
    await redis.eval(script, 1, keyPrefix + key, value, Math.max(1, expiresAt - nowSeconds()), channel, message)
  }
  return {
    ...redisRevocationBackend(redis, keyPrefix),
    write: async (key, value, expiresAt) => { await writeAndPublish(WRITE_SCRIPT, key, value, expiresAt) },
    raise: async (key, value, expiresAt) => { await writeAndPublish(RAISE_SCRIPT, key, value, expiresAt) }
  }
}

export interface RevocationFeedOptions {
  /** The app's client; the feed subscribes on a connection of its own, made from it. */
  redis: Redis
  keyPrefix: string
  mirror: RevocationMirror
  /** The record's live revocations, page by page: what a (re)subscribed mirror loads. */
  rows: () => AsyncIterable<RevocationRow[]>
  log: FastifyBaseLogger
}

export interface RevocationFeed {
  /** Whether the mirror may answer: loaded since the last (re)subscription, and proven whole within STALE_AFTER_MS. */
  live: () => boolean
  /** Subscribes and loads the mirror: before the app serves anything. */
  start: () => Promise<void>
  close: () => Promise<void>
}

/**
 * Keeps the mirror whole from Redis pub/sub. On every (re)connection it subscribes first, then
 * loads every live revocation from the SQL record (which holds each one before it is published),
 * applying messages as they come: a revocation acknowledged before the load began is in the
 * record, one published after the subscription arrives as a message. Only then, and while PINGs
 * on the subscribed connection keep being answered, does the mirror answer checks; a lost or
 * silent connection, or a message it cannot read, sends checks back to Redis (strict, failing
 * closed) until the mirror is loaded again. A loss of Redis' data does not touch it: it loads
 * from the record.
 */
export function revocationFeed ({ redis, keyPrefix, mirror, rows, log }: RevocationFeedOptions): RevocationFeed {
  const channel = keyPrefix + FEED_CHANNEL
  const applied = diagnosticsChannel(MIRROR_APPLIED_CHANNEL)
  // A subscribed connection carries nothing else; it resubscribes itself (see load), named for CLIENT LIST.
  const subscriber = redis.duplicate({ autoResubscribe: false, enableAutoPipelining: false, connectionName: 'gatehouse-revocation-feed' })
  // Bumped by every new connection and every loss of one: a load or a PONG of an older one counts for nothing.
  let generation = 0
  let loaded = false
  /** Every revocation published before this time (ms) is in the mirror. */
  let provenAt = 0
  let pinging = false
  let connected = false
  let closed = false
  let syncing: Promise<void> = Promise.resolve()
  let lastError: unknown

  function restart (reason: string): void {
    generation += 1
    loaded = false
    if (closed) return
    log.debug({ reason }, 'revocation mirror: loading')
    syncing = load(generation)
  }

  async function load (started: number): Promise<void> {
    const begun = Date.now()
    try {
      await subscriber.subscribe(channel)
      let count = 0
      for await (const page of rows()) {
        for (const row of page) mirror.apply(row.key, row.value, row.expires_at)
        count += page.length
      }
      if (started !== generation || closed) return
      loaded = true
      provenAt = Math.max(provenAt, begun)
      lastError = undefined
      log.info({ loaded: count, entries: mirror.size(), ms: Date.now() - begun }, 'revocation mirror: live')
    } catch (error) {
      lastError = error
      if (started !== generation || closed) return
      log.warn({ err: error }, 'revocation mirror: loading failed; checks read Redis meanwhile')
      setTimeout(() => { if (started === generation && !closed) syncing = load(started) }, RETRY_MS).unref()
    }
  }

  function heartbeat (): void {
    if (pinging || !loaded || subscriber.status !== 'ready') return
    pinging = true
    const started = generation
    const sent = Date.now()
    subscriber.ping().then(() => {
      if (started === generation) provenAt = Math.max(provenAt, sent)
    }, (error: unknown) => {
      // Unanswered past REDIS_TIMEOUT_MS while the mirror is stale already: a connection gone silent.
      if (started !== generation || Date.now() - provenAt <= STALE_AFTER_MS) return
      log.warn({ err: error }, 'revocation mirror: the feed does not answer; reconnecting')
      subscriber.disconnect(true)
    }).finally(() => { pinging = false })
  }
  const timer = setInterval(heartbeat, HEARTBEAT_MS)
  timer.unref()

  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return
    const message = parseMessage(text)
    if (message === undefined) {
      // Perhaps a revocation all the same (another version's format): start over from the record.
      log.warn({ message: text.slice(0, 200) }, 'revocation mirror: an unreadable message; loading again')
      restart('unreadable message')
      return
    }
    mirror.apply(message.key, message.value, message.expiresAt)
    if (applied.hasSubscribers) applied.publish({ key: message.key, sentAtMs: message.sentAtMs, appliedAtMs: wallClockMs() })
  })
  subscriber.on('ready', () => {
    connected = true
    restart('connected')
  })
  // Without an error listener ioredis errors would crash the process; the connection's end is 'close'.
  subscriber.on('error', (error) => { lastError = error })
  subscriber.on('close', () => {
    generation += 1
    loaded = false
    if (connected && !closed) log.warn({ err: lastError }, 'revocation mirror: feed lost; checks read Redis until it is back')
    connected = false
  })
  // ioredis gives up for good in some reconnections (as startRedis in redis-client.ts): start over.
  subscriber.on('end', () => {
    if (!closed) setTimeout(() => { if (!closed) subscriber.connect().catch(() => {}) }, RESTART_DELAY_MS).unref()
  })

  return {
    live: () => loaded && Date.now() - provenAt < STALE_AFTER_MS,
    async start () {
      await subscriber.connect()
      await syncing
      if (!loaded) throw new Error(`the revocation mirror could not be loaded: ${String((lastError as Error | undefined)?.message)}`)
    },
    async close () {
      closed = true
      loaded = false
      clearInterval(timer)
      subscriber.disconnect()
      await syncing
    }
  }
}
