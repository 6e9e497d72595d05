import { availableParallelism } from 'node:os'
import type { FastifyRequest } from 'fastify'
import { hash, verify } from '@node-rs/argon2'
import { ClientGone } from '../http'
import { concurrencyLimit } from './concurrency-limit'
import { isLegacyHash, verifyLegacyHash } from './legacy-hashes'

export { isLegacyHash }

// argon2id with OWASP's minimum (m=19 MiB, t=2, p=1). @node-rs/argon2 hashes on libuv's thread pool,
// off the event loop. `2` is Algorithm.Argon2id, a const enum that isolated modules cannot import.
const ARGON2ID = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

export async function hashPassword (password: string): Promise<string> {
  return await hash(password, ARGON2ID)
}

/**
 * Whether a stored hash was made with other settings than today's (an older, cheaper cost, or
 * another algorithm): the login that proves the password rehashes it.
 */
export function needsRehash (storedHash: string): boolean {
  const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(storedHash)
  return match === null ||
    Number(match[1]) !== ARGON2ID.memoryCost || Number(match[2]) !== ARGON2ID.timeCost || Number(match[3]) !== ARGON2ID.parallelism
}

export interface HashingOptions {
  /** Hashes computed at once; 0: one fewer than the cores, so a login storm leaves the event loop a core. */
  concurrency: number
  /** Hashes allowed to wait; past that, 503 server_busy. */
  maxQueue: number
}

/** True once the request's client has gone: its hash, still waiting in line, is skipped. */
export type Abandoned = () => boolean

/**
 * Whether the client of `request` has hung up: its socket is closed, nobody is left to read the
 * answer. (Not `request.raw.destroyed`, which turns true once the body is read.)
 */
export function clientGone (request: FastifyRequest): Abandoned {
  return () => request.raw.socket?.destroyed === true
}

export interface PasswordHasher {
  /** Throws ClientGone, without hashing, when `abandoned()` holds as the hash's turn comes. */
  hash: (password: string, abandoned?: Abandoned) => Promise<string>
  /**
   * Checks a password against a stored hash (argon2's own comparison is constant-time), or against
   * an imported Werkzeug or bcrypt hash (needsRehash is then true). With no stored hash (unknown
   * user) it checks against a dummy hash of the same cost, so both take as long.
   */
  verify: (storedHash: string | undefined, password: string, abandoned?: Abandoned) => Promise<boolean>
}

/**
 * Password hashing with a bound on how many hashes run at once. Each costs ~10 ms of a core and
 * 19 MiB: unbounded, 50 concurrent logins fill libuv's four threads, take both cores from the event
 * loop and push every authenticated read behind them.
 */
export async function passwordHasher ({ concurrency, maxQueue }: HashingOptions): Promise<PasswordHasher> {
  const limited = concurrencyLimit(concurrency > 0 ? concurrency : Math.max(1, availableParallelism() - 1), maxQueue)
  const dummy = await hashPassword('not-a-password: timing filler for unknown users')
  // Checked when the hash's turn comes, not when it joined the line: a burst of requests that hang
  // up at once would otherwise keep the hash threads busy for nobody, ahead of real clients.
  const stillWanted = (abandoned: Abandoned | undefined): void => {
    if (abandoned?.() === true) throw new ClientGone()
  }
  return {
    hash: async (password, abandoned) => await limited(async () => {
      stillWanted(abandoned)
      return await hashPassword(password)
    }),
    async verify (storedHash, password, abandoned) {
      return await limited(async () => {
        stillWanted(abandoned)
        try {
          if (storedHash !== undefined && isLegacyHash(storedHash)) return await verifyLegacyHash(storedHash, password)
          return await verify(storedHash ?? dummy, password) && storedHash !== undefined
        } catch {
          return false
        }
      })
    }
  }
}
