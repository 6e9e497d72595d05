import type { FastifyBaseLogger } from 'fastify'
import { nowSeconds, storeGuard, type RevocationBackend } from '../revocation'

export interface ThrottleOptions {
  /** Failed logins one username may take in a window. */
  maxPerUsername: number
  /** Failed logins one client address may cause in a window, over all usernames. */
  maxPerAddress: number
  windowSeconds: number
}

export interface LoginThrottle {
  /** Seconds until the next attempt is allowed, or 0 when it is allowed now. */
  retryAfter: (username: string, address: string) => Promise<number>
  recordFailure: (username: string, address: string) => Promise<void>
  /** A success clears the username's failures (not the address's: one success must not reopen a spray). */
  recordSuccess: (username: string) => Promise<void>
}

/**
 * Counts failed logins per username and per client address in fixed windows, in the shared store
 * (Redis, or the SQL table without it), so every instance sees the same counts. A window's count
 * expires with it: a lockout lasts at most one window, and an attacker cannot lock a user out for good.
 */
export function loginThrottle (backend: RevocationBackend, options: ThrottleOptions, log: FastifyBaseLogger): LoginThrottle {
  const guarded = storeGuard(backend, log)
  const window = (now: number): { index: number, end: number } => {
    const index = Math.floor(now / options.windowSeconds)
    return { index, end: (index + 1) * options.windowSeconds }
  }
  // Each key is its own hash tag: the two counters of one attempt may live in different cluster slots.
  const usernameKey = (username: string, index: number): string => `{login:${username}}:${index}`
  const addressKey = (address: string, index: number): string => `{addr:${address}}:${index}`

  return {
    async retryAfter (username, address) {
      const now = nowSeconds()
      const { index, end } = window(now)
      const [[byUsername], [byAddress]] = await guarded(async () => await Promise.all([
        backend.read([usernameKey(username, index)]),
        backend.read([addressKey(address, index)])
      ]))
      const blocked = Number(byUsername ?? 0) >= options.maxPerUsername || Number(byAddress ?? 0) >= options.maxPerAddress
      return blocked ? end - now : 0
    },
    async recordFailure (username, address) {
      const { index, end } = window(nowSeconds())
      await guarded(async () => await Promise.all([
        backend.increment(usernameKey(username, index), end),
        backend.increment(addressKey(address, index), end)
      ]))
    },
    async recordSuccess (username) {
      await guarded(async () => { await backend.remove(usernameKey(username, window(nowSeconds()).index)) })
    }
  }
}
