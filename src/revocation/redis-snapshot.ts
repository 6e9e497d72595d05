import type { Redis } from 'ioredis'
import { MARKER_KEY } from './loss-watch'
import type { RevocationRow } from './sql'

const PAGE = 1000
// The keys a check reads: a token's, a session's, a user's cut-off. Spent refresh tokens, retry
// answers and the rest under the prefix are not revocations.
const REVOCATION_KEY = /^\{u:[^{}]*\}:(t:.+|s:.+|u)$/

/** A glob that matches `text` literally. */
const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, '\\$&')

/**
 * Every live revocation in Redis, page by page: what a mirror that cannot read Gatehouse's SQL
 * record (a resource server's) loads. Believed only while Redis holds the whole record, as the
 * epoch marker says (src/revocation/loss-watch.ts): without the marker, or with another marker
 * after the scan than before it (Redis lost data meanwhile), it throws, and the mirror stays out of
 * the way (checks read Redis, failing closed) until Gatehouse has restored Redis and a load succeeds.
 * A revocation written during the scan is either scanned or arrives on the feed, which the mirror
 * subscribed to first.
 */
export async function * redisRevocationRows (redis: Redis, keyPrefix: string): AsyncGenerator<RevocationRow[]> {
  const markerKey = keyPrefix + MARKER_KEY
  const marker = await redis.get(markerKey)
  if (marker === null) throw new Error('Redis holds no epoch marker: Gatehouse has not restored it (yet)')
  const match = `${globEscape(keyPrefix)}{u:*`
  let cursor = '0'
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', PAGE)
    cursor = next
    const keys = found.filter((key) => REVOCATION_KEY.test(key.slice(keyPrefix.length)))
    if (keys.length === 0) continue
    const pipeline = redis.pipeline()
    for (const key of keys) pipeline.get(key).pttl(key)
    const replies = await pipeline.exec()
    if (replies === null) throw new Error('the snapshot pipeline was discarded')
    const now = Date.now()
    const rows: RevocationRow[] = []
    keys.forEach((key, i) => {
      const [valueError, value] = replies[2 * i]
      const [ttlError, ttl] = replies[2 * i + 1]
      if (valueError !== null || ttlError !== null) throw valueError ?? ttlError
      // Gone since the scan (expired or deleted), or kept without a TTL (not one of ours).
      if (value === null || typeof ttl !== 'number' || ttl <= 0) return
      rows.push({ key: key.slice(keyPrefix.length), value: Number(value), expires_at: Math.ceil((now + ttl) / 1000) })
    })
    if (rows.length > 0) yield rows
  } while (cursor !== '0')
  if (await redis.get(markerKey) !== marker) throw new Error('the epoch marker changed during the snapshot: Redis lost data')
}
