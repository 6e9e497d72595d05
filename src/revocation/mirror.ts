import { issuedAtMs } from '../tokens'
import { isCutoffKey, nowSeconds, revocationKeys as keys, type RevocableToken, type RevocationStore } from './store'

// Expired entries are never believed (each read compares with now); this only frees their memory.
const SWEEP_INTERVAL_MS = 60_000

/**
 * The live revocations of every instance, in this instance's memory (REVOCATION_MODE=mirror): the
 * same keys as Redis and the SQL record, each with its expiry in seconds. Fed by feed.ts; bounded
 * by the live set, as an entry is dropped once it expires.
 */
export interface RevocationMirror {
  /** A revocation, as the record holds it: a cut-off only ever rises; an expiry only ever extends. */
  apply: (key: string, value: number, expiresAt: number) => void
  /** The store's isRevoked, answered from memory. */
  isRevoked: (token: RevocableToken) => boolean
  /** Live entries, plus expired ones not swept yet. */
  size: () => number
  close: () => void
}

export function revocationMirror (): RevocationMirror {
  // Tokens and sessions hold 1 for as long as they live: their expiry alone says it all.
  const revoked = new Map<string, number>()
  const cutoffs = new Map<string, { value: number, expiresAt: number }>()

  function sweep (): void {
    const now = nowSeconds()
    for (const [key, expiresAt] of revoked) if (expiresAt <= now) revoked.delete(key)
    for (const [key, cutoff] of cutoffs) if (cutoff.expiresAt <= now) cutoffs.delete(key)
  }
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS)
  timer.unref()

  return {
    apply (key, value, expiresAt) {
      const now = nowSeconds()
      if (expiresAt <= now) return
      if (!isCutoffKey(key)) {
        if ((revoked.get(key) ?? 0) < expiresAt) revoked.set(key, expiresAt)
        return
      }
      // As Redis' raise script and the record's upsert: a later cut-off replaces an earlier one.
      const current = cutoffs.get(key)
      if (current === undefined || current.expiresAt <= now || current.value < value) cutoffs.set(key, { value, expiresAt })
      else if (current.value === value && current.expiresAt < expiresAt) current.expiresAt = expiresAt
    },
    isRevoked (token) {
      const now = nowSeconds()
      if ((revoked.get(keys.token(token.sub, token.jti)) ?? 0) > now) return true
      if ((revoked.get(keys.session(token.sub, token.sid ?? token.jti)) ?? 0) > now) return true
      const cutoff = cutoffs.get(keys.user(token.sub))
      return cutoff !== undefined && cutoff.expiresAt > now && issuedAtMs(token) <= cutoff.value
    },
    size: () => revoked.size + cutoffs.size,
    close () {
      clearInterval(timer)
      revoked.clear()
      cutoffs.clear()
    }
  }
}

/**
 * The store with its checks answered by the mirror while `live()` says the mirror is whole, and
 * by the store (Redis, failing closed) otherwise. Each revocation goes to the store (the record,
 * then Redis, which feeds every mirror), then into this instance's mirror at once, so the
 * instance that revoked honours it on its very next request.
 */
export function mirroredStore (store: RevocationStore, mirror: RevocationMirror, live: () => boolean): RevocationStore {
  return {
    ...store,
    mirror: { live, size: mirror.size },
    async isRevoked (token) {
      if (live()) return mirror.isRevoked(token)
      return await store.isRevoked(token)
    },
    async revokeToken (sub, jti, expiresAt) {
      await store.revokeToken(sub, jti, expiresAt)
      mirror.apply(keys.token(sub, jti), 1, expiresAt)
    },
    async revokeSession (sub, sid, expiresAt) {
      await store.revokeSession(sub, sid, expiresAt)
      mirror.apply(keys.session(sub, sid), 1, expiresAt)
    },
    async revokeUser (sub, cutoff, expiresAt) {
      await store.revokeUser(sub, cutoff, expiresAt)
      mirror.apply(keys.user(sub), cutoff, expiresAt)
    }
  }
}
