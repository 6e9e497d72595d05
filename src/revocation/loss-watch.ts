import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { RAISE_SCRIPT } from './redis'
import type { RevocationRow } from './sql'
import { nowSeconds, type RedisTrust } from './store'

// Between two checks of the server's identity and the marker while no request reads Redis.
const CHECK_INTERVAL_MS = 1000
// A repairer that dies leaves its lock this long; a live one extends it with every page it copies.
const LOCK_MS = 10_000
const WAIT_POLL_MS = 100
export const REPAIR_PAGE_SIZE = 1000

/** The epoch marker, under the key prefix; resource servers read it too (src/resource-server). */
export const MARKER_KEY = 'epoch'
const LOCK_KEY = 'epoch:repair'

// Holding the lock since it was taken means nothing flushed Redis during the copy: only then the
// new marker says that Redis holds the whole record.
const FINALIZE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`
// Taken, or taken already by this same repair (its first try met a failover, say): extended.
const ACQUIRE_SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`
const EXTEND_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`

class LockLost extends Error {}

export interface LossWatchOptions {
  redis: Redis
  keyPrefix: string
  /** The record's live revocations, page by page. */
  rows: () => AsyncIterable<RevocationRow[]>
  log: FastifyBaseLogger
}

export interface LossWatch extends RedisTrust {
  /** Checks Redis, restoring it from the record if it must: before the app serves anything. */
  start: () => Promise<void>
  close: () => Promise<void>
}

const field = (info: string, name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? ''
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * Notices when Redis has lost revocations, and restores them from the SQL record before Redis is
 * believed again.
 *
 * - An epoch marker: a key written once Redis holds the whole record. Every check reads it in the
 *   same MGET as the revocation keys, so a restart without persistence or a FLUSHALL is noticed by
 *   the very next check, at no extra round trip.
 * - The server's identity (run_id and replication id): the marker replicates like everything else,
 *   so a replica promoted after missing the last writes still shows it. Each new connection (ioredis
 *   emits `ready`), and a timer, compare the identity with the one last verified; a reply read
 *   across a reconnection is never believed.
 *
 * Until Redis is believed again, checks are answered from the record (store.ts). Instances repair
 * one at a time (a lock in Redis); the others wait for the new marker, and every write is
 * idempotent, so a repair that runs twice does no harm.
 */
export function redisLossWatch ({ redis, keyPrefix, rows, log }: LossWatchOptions): LossWatch {
  const markerKey = keyPrefix + MARKER_KEY
  const lockKey = keyPrefix + LOCK_KEY
  // One per instance: a repair that failed half-way (a failover) finds its own lock and goes on.
  const lockId = randomUUID()
  /** The marker value this instance believes: Redis held the whole record when it was written. */
  let epoch: string | undefined
  /** The server last verified: `run_id/master_replid`. */
  let identity: string | undefined
  let trusted = false
  // Bumped whenever Redis' word may have changed: a new connection, a wrong marker.
  let generation = 0
  let checking: Promise<void> | undefined
  let again = false
  let closed = false
  let lastError: unknown

  function distrust (): void {
    trusted = false
    generation += 1
    requestCheck()
  }

  function requestCheck (): void {
    if (closed) return
    if (checking !== undefined) { again = true; return }
    checking = (async () => {
      do {
        again = false
        try {
          await verify()
          lastError = undefined
        } catch (error) {
          // Redis or the database failed mid-way: the timer or the next connection tries again.
          lastError = error
          log.warn({ err: error }, 'revocation store: checking Redis against the record failed')
        }
      } while (again && !closed)
    })().finally(() => { checking = undefined })
  }

  async function serverIdentity (): Promise<{ identity: string, marker: string | null }> {
    const replies = await redis.pipeline().info('server').info('replication').get(markerKey).exec()
    if (replies === null) throw new Error('pipeline discarded')
    for (const [error] of replies) if (error !== null) throw error
    const [server, replication, marker] = replies.map(([, value]) => value) as [string, string, string | null]
    return { identity: `${field(server, 'run_id')}/${field(replication, 'master_replid')}`, marker }
  }

  async function verify (): Promise<void> {
    const started = generation
    const now = await serverIdentity()
    let reason: string | undefined
    if (identity === undefined) reason = 'start'
    else if (now.identity !== identity) reason = 'another Redis server (a restart or a failover)'
    else if (now.marker === null) reason = 'the epoch marker is gone (a restart or a flush)'
    if (reason !== undefined) {
      if (identity !== undefined) log.warn({ reason }, 'revocation store: Redis may have lost revocations; restoring them from the database')
      await repair(reason, now.marker)
    } else if (now.marker !== epoch) {
      // Only a complete repair writes a marker, on this same server: its data is whole.
      epoch = now.marker ?? undefined
    }
    identity = now.identity
    if (generation === started && !closed) trusted = true
  }

  async function copy (): Promise<number> {
    let restored = 0
    for await (const page of rows()) {
      const now = nowSeconds()
      const pipeline = redis.pipeline().eval(EXTEND_SCRIPT, 1, lockKey, lockId, LOCK_MS)
      for (const row of page) {
        const ttl = Math.max(1, row.expires_at - now)
        if (row.key.endsWith('}:u')) pipeline.eval(RAISE_SCRIPT, 1, keyPrefix + row.key, row.value, ttl)
        else pipeline.set(keyPrefix + row.key, row.value, 'EX', ttl)
      }
      const replies = await pipeline.exec()
      if (replies === null) throw new Error('pipeline discarded')
      for (const [error] of replies) if (error !== null) throw error
      if (replies[0][1] !== 1) throw new LockLost()
      restored += page.length
    }
    return restored
  }

  /** Restores the record into Redis, or waits for another instance to; ends with a marker it believes. */
  async function repair (reason: string, seenMarker: string | null): Promise<void> {
    const started = Date.now()
    while (!closed) {
      if (await redis.eval(ACQUIRE_SCRIPT, 1, lockKey, lockId, LOCK_MS) === 1) {
        let restored: number
        try {
          restored = await copy()
        } catch (error) {
          if (error instanceof LockLost) continue
          throw error
        }
        const marker = `${Date.now()}-${randomUUID()}`
        if (await redis.eval(FINALIZE_SCRIPT, 2, lockKey, markerKey, lockId, marker) === 1) {
          epoch = marker
          log.info({ reason, restored, ms: Date.now() - started }, 'revocation store: Redis holds every live revocation of the database')
          return
        }
        // Flushed during the copy: the lock went with it. Copy again.
        continue
      }
      await sleep(WAIT_POLL_MS)
      const marker = await redis.get(markerKey)
      if (marker !== null && marker !== seenMarker) {
        // The instance holding the lock has finished.
        epoch = marker
        return
      }
    }
  }

  const onReady = (): void => { distrust() }
  redis.on('ready', onReady)
  // While Redis is down its reconnection (`ready`) brings the check; checking meanwhile only fails.
  const timer = setInterval(() => { if (redis.status === 'ready') requestCheck() }, CHECK_INTERVAL_MS)
  timer.unref()

  return {
    markerKey: MARKER_KEY,
    begin: () => trusted ? generation : undefined,
    confirms (begun, marker) {
      if (begun === generation && trusted && marker != null && marker === epoch) return true
      if (begun === generation) distrust()
      return false
    },
    async start () {
      requestCheck()
      await checking
      if (!trusted) throw new Error(`Redis could not be checked against the revocation record: ${String((lastError as Error | undefined)?.message)}`)
    },
    async close () {
      closed = true
      clearInterval(timer)
      redis.off('ready', onReady)
      await checking
    }
  }
}
