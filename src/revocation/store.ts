import type { FastifyBaseLogger } from 'fastify'
import { isDatabaseUnavailable } from '../db'
import { RevocationUnavailable } from '../http'
import { issuedAtMs } from '../tokens'

/** What a revocation check needs to know of a verified token. */
export interface RevocableToken {
  sub: string
  jti: string
  /** The login session; tokens minted elsewhere (Flask) have none and stand for themselves. */
  sid?: string
  iat?: number
  iat_ms?: number
}

/**
 * Where revocations live: Redis when configured (shared by every instance), else the SQL database.
 * With Redis, the SQL database keeps the durable record: every revocation is written there first,
 * and Redis is restored from it when it loses data (see loss-watch.ts). Every entry expires with
 * the last token it can concern, so the store holds only live tokens.
 * Each method throws RevocationUnavailable when the store does not answer in time; the SQL store
 * rethrows the database's own connection errors instead, which answer database_unavailable.
 */
export interface RevocationStore {
  /** One round trip: revoked by its own id, by its session, or by its user's cut-off time. */
  isRevoked: (token: RevocableToken) => Promise<boolean>
  revokeToken: (sub: string, jti: string, expiresAt: number) => Promise<void>
  revokeSession: (sub: string, sid: string, expiresAt: number) => Promise<void>
  /** Every token of the user issued at or before `cutoffMs` (milliseconds) is revoked. */
  revokeUser: (sub: string, cutoffMs: number, expiresAt: number) => Promise<void>
  /**
   * Marks a refresh token spent, atomically: true for the one caller that spends it, false for
   * every later (or concurrent) one, across every instance.
   */
  spendRefreshToken: (sub: string, jti: string, expiresAt: number) => Promise<boolean>
  /** When the refresh token was first spent (milliseconds), or undefined if it was not. */
  refreshTokenSpentAt: (sub: string, jti: string) => Promise<number | undefined>
  ping: () => Promise<void>
  close: () => Promise<void>
  /** With REVOCATION_MODE=mirror: whether the in-memory mirror answers checks now, and how many entries it holds. */
  mirror?: { live: () => boolean, size: () => number }
}

/** The storage a RevocationStore needs: values that vanish at a given time. */
export interface RevocationBackend {
  name: string
  /** The backend is the SQL database: its outage is the database's, answered 503 database_unavailable. */
  inDatabase?: boolean
  /** Reads the values of `keys` in one round trip, in order, null where absent or expired. */
  read: (keys: string[]) => Promise<Array<string | number | null | undefined>>
  /** Stores `value` under `key` until `expiresAt` (seconds); called only while that lies ahead. */
  write: (key: string, value: number, expiresAt: number) => Promise<void>
  /** Like write, but a live value that is larger stays (with its expiry): a cut-off never moves back. Atomic. */
  raise: (key: string, value: number, expiresAt: number) => Promise<void>
  /** Like write, but only where no live value is stored; true when it stored. Atomic. */
  add: (key: string, value: number, expiresAt: number) => Promise<boolean>
  ping: () => Promise<unknown>
  close: () => Promise<void>
}

// The user id is the hash tag, so the keys one check reads together sit in one Redis Cluster slot.
const keys = {
  token: (sub: string, jti: string) => `{u:${sub}}:t:${jti}`,
  session: (sub: string, sid: string) => `{u:${sub}}:s:${sid}`,
  user: (sub: string) => `{u:${sub}}:u`,
  spentRefresh: (sub: string, jti: string) => `{u:${sub}}:r:${jti}`
}
export { keys as revocationKeys }

/** A user's cut-off, whose value only ever rises; the other revocation keys hold 1. */
export const isCutoffKey = (key: string): boolean => key.endsWith('}:u')

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/**
 * Runs a store operation so that a store that does not answer is a 503: revocation_unavailable, or
 * database_unavailable where the store is the SQL database.
 */
export function storeGuard (backend: RevocationBackend, log: FastifyBaseLogger): <T>(operation: () => Promise<T>) => Promise<T> {
  const failed = storeFailure(backend, log)
  return async function guarded<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      return failed(error)
    }
  }
}

/** storeGuard's answer to an operation that failed, for a promise chain of its own (the hot-path check). */
export function storeFailure (backend: RevocationBackend, log: FastifyBaseLogger): (error: unknown) => never {
  return function failed (error) {
    if (backend.inDatabase === true && isDatabaseUnavailable(error)) throw error
    log.warn({ err: error, store: backend.name }, 'revocation store failed')
    throw new RevocationUnavailable()
  }
}

/** Decides whether Redis' answers can be believed: see loss-watch.ts. */
export interface RedisTrust {
  /** The marker key read along with every check, in the same MGET. */
  markerKey: string
  /** A number to hand to `confirms` with the reply; undefined while Redis is not to be believed. */
  begin: () => number | undefined
  /** Whether a reply read since `begin` can be believed, given the marker it carried; if not, a check starts. */
  confirms: (begun: number, marker: unknown) => boolean
}

/** With Redis: the SQL record every revocation is written to first, and what says when Redis can be believed. */
export interface DurableRecord {
  record: RevocationBackend
  /** Absent for a Redis Cluster: its losses are not detected (see docs/tokens-and-revocation.md). */
  trust?: RedisTrust
}

// A check answered from the SQL record (while Redis is being restored) must still answer in time.
const RECORD_READ_TIMEOUT_MS = 1500

async function within<T> (ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

type Values = Array<string | number | null | undefined>

export function revocationStore (backend: RevocationBackend, log: FastifyBaseLogger, durable?: DurableRecord): RevocationStore {
  const guarded = storeGuard(backend, log)
  const readFailed = storeFailure(backend, log)
  const record = durable?.record
  const trust = durable?.trust
  const guardedRecord = record === undefined ? guarded : storeGuard(record, log)

  /** Into the durable record first, so that nothing acknowledged can be lost with Redis; then Redis. */
  async function writeUntil (kind: 'write' | 'raise', key: string, value: number, expiresAt: number): Promise<void> {
    if (expiresAt <= nowSeconds()) return
    if (record !== undefined) await guardedRecord(async () => { await record[kind](key, value, expiresAt) })
    await guarded(async () => { await backend[kind](key, value, expiresAt) })
  }

  async function readRecord (checkKeys: string[]): Promise<Values> {
    // Redis may have lost data and is not restored yet: the record holds every acknowledged revocation.
    return await guardedRecord(async () => await within(RECORD_READ_TIMEOUT_MS, record!.read(checkKeys)))
  }

  // On every protected request: one promise chain rather than nested async functions, each of
  // which would cost a promise and microtask turns of its own. Read as [token, session, cut-off],
  // after the marker where Redis' trust is checked.
  function readCheck (token: RevocableToken): Promise<Values> {
    const tokenKey = keys.token(token.sub, token.jti)
    const sessionKey = keys.session(token.sub, token.sid ?? token.jti)
    const userKey = keys.user(token.sub)
    if (record === undefined || trust === undefined) return backend.read([tokenKey, sessionKey, userKey]).catch(readFailed)
    const begun = trust.begin()
    if (begun === undefined) return readRecord([tokenKey, sessionKey, userKey])
    return backend.read([trust.markerKey, tokenKey, sessionKey, userKey]).then((values) => {
      if (trust.confirms(begun, values[0])) return values.slice(1)
      return readRecord([tokenKey, sessionKey, userKey])
    }, readFailed)
  }

  return {
    isRevoked (token) {
      return readCheck(token).then((values) => {
        if (values[0] != null || values[1] != null) return true
        const cutoff = values[2]
        return cutoff != null && issuedAtMs(token) <= Number(cutoff)
      })
    },
    async revokeToken (sub, jti, expiresAt) {
      await writeUntil('write', keys.token(sub, jti), 1, expiresAt)
    },
    async revokeSession (sub, sid, expiresAt) {
      await writeUntil('write', keys.session(sub, sid), 1, expiresAt)
    },
    async revokeUser (sub, cutoff, expiresAt) {
      await writeUntil('raise', keys.user(sub), cutoff, expiresAt)
    },
    async spendRefreshToken (sub, jti, expiresAt) {
      // An expired token never reaches this point, so there is always a lifetime left to keep the mark.
      // With Redis, spends live in the SQL record alone: its insert is as atomic across instances, and
      // a spend then outlives any loss of Redis. The mark is the time of the spend, which a retry
      // within the reuse interval is measured from.
      const spends = record ?? backend
      return await guardedRecord(async () => await spends.add(keys.spentRefresh(sub, jti), Date.now(), Math.max(expiresAt, nowSeconds() + 1)))
    },
    async refreshTokenSpentAt (sub, jti) {
      const spends = record ?? backend
      const [value] = await guardedRecord(async () => await spends.read([keys.spentRefresh(sub, jti)]))
      return value == null ? undefined : Number(value)
    },
    async ping () {
      await guarded(async () => { await backend.ping() })
    },
    async close () {
      await backend.close()
      await record?.close()
    }
  }
}
