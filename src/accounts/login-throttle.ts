import type { FastifyBaseLogger } from 'fastify'
import { isDatabaseUnavailable } from '../db'
import { RevocationUnavailable } from '../http'
import type { AttemptStore, Settlement } from './attempt-store'
import { clientAddressGroup } from './client-address'

export interface ThrottleOptions {
  /** Failed logins one username may take from one client address in a window (LOGIN_MAX_FAILURES). */
  maxPerPair: number
  /** Failed logins one username may take in a window, over all addresses. */
  maxPerUsername: number
  /** Failed logins one client address may cause in a window, over all usernames. */
  maxPerAddress: number
  windowSeconds: number
}

export interface RegistrationThrottleOptions {
  maxPerAddress: number
  windowSeconds: number
}

/** How a reserved attempt ended: `abandoned` when its password was never checked (the client left, a store failed). */
export type AttemptOutcome = 'failed' | 'succeeded' | 'abandoned'

export interface ReservedAttempt {
  settle: (outcome: AttemptOutcome) => Promise<void>
}

/** An attempt counted and allowed, or the seconds to wait. */
export type Reservation = { attempt: ReservedAttempt, retryAfter?: undefined } | { retryAfter: number, attempt?: undefined }

export interface LoginThrottle {
  /**
   * Counts a login attempt before its password is hashed, atomically and across instances, so
   * attempts in flight count: past a limit it answers the wait instead, and nothing is hashed.
   */
  reserve: (username: string, address: string) => Promise<Reservation>
}

export interface RegistrationThrottle {
  /** Counts a registration (each costs a hash) against its client address; `abandoned` uncounts it. */
  reserve: (address: string) => Promise<Reservation>
}

interface Counter { key: string, limit: number, onSuccess: Settlement }

/** Store failures answer 503, as the revocation store's do: an unthrottled login is not an option. */
function guard (store: AttemptStore, log: FastifyBaseLogger): <T>(operation: () => Promise<T>) => Promise<T> {
  return async function guarded<T> (operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (store.inDatabase === true && isDatabaseUnavailable(error)) throw error
      log.warn({ err: error, store: store.name }, 'attempt counter store failed')
      throw new RevocationUnavailable()
    }
  }
}

/**
 * Reserves one attempt on each counter in turn, the strictest first; where one is full, the ones
 * already taken are released, so a refused attempt counts nowhere. That order keeps an attacker
 * held back by a strict counter from filling the wider ones behind it.
 */
function windowedReservations (store: AttemptStore, windowSeconds: number, log: FastifyBaseLogger) {
  const guarded = guard(store, log)
  return async function reserve (counters: (index: number) => Counter[]): Promise<Reservation> {
    const now = Math.floor(Date.now() / 1000)
    const index = Math.floor(now / windowSeconds)
    const end = (index + 1) * windowSeconds
    const taken: Counter[] = []
    const settleAll = async (settlement: (counter: Counter) => Settlement, list = taken): Promise<void> => {
      await guarded(async () => { await Promise.all(list.map(async (counter) => { await store.settle(counter.key, settlement(counter)) })) })
    }
    for (const counter of counters(index)) {
      let reserved: boolean
      try {
        reserved = await guarded(async () => await store.reserve(counter.key, counter.limit, end))
      } catch (error) {
        await settleAll(() => 'released').catch(() => {})
        throw error
      }
      if (!reserved) {
        await settleAll(() => 'released')
        return { retryAfter: Math.max(1, end - Math.floor(Date.now() / 1000)) }
      }
      taken.push(counter)
    }
    let settled = false
    return {
      attempt: {
        async settle (outcome) {
          if (settled) return
          settled = true
          await settleAll((counter) => outcome === 'failed' ? 'failed' : outcome === 'succeeded' ? counter.onSuccess : 'released')
        }
      }
    }
  }
}

/**
 * Counts login attempts in fixed windows in the shared store (Redis, or the SQL table without
 * it), so every instance sees the same counts: per (username, client address) with the strict
 * limit, per client address over all usernames, and per username over all addresses with a higher
 * one. A lockout lasts at most one window, and one address can only hold back its own pair.
 * A success clears its own pair's failures (not those of other addresses, nor the address's:
 * one success must not reopen a spray).
 */
export function loginThrottle (store: AttemptStore, options: ThrottleOptions, log: FastifyBaseLogger): LoginThrottle {
  const reserve = windowedReservations(store, options.windowSeconds, log)
  return {
    async reserve (username, address) {
      const client = clientAddressGroup(address)
      // Each key is its own hash tag: the counters of one attempt may live in different cluster slots.
      return await reserve((index) => [
        { key: `{lp:${client}|${username}}:${index}`, limit: options.maxPerPair, onSuccess: 'reset' },
        { key: `{addr:${client}}:${index}`, limit: options.maxPerAddress, onSuccess: 'released' },
        { key: `{login:${username}}:${index}`, limit: options.maxPerUsername, onSuccess: 'released' }
      ])
    }
  }
}

/** Registrations per client address in fixed windows; each one made (or refused as taken) counts. */
export function registrationThrottle (store: AttemptStore, options: RegistrationThrottleOptions, log: FastifyBaseLogger): RegistrationThrottle {
  const reserve = windowedReservations(store, options.windowSeconds, log)
  return {
    async reserve (address) {
      const client = clientAddressGroup(address)
      return await reserve((index) => [{ key: `{reg:${client}}:${index}`, limit: options.maxPerAddress, onSuccess: 'failed' }])
    }
  }
}
