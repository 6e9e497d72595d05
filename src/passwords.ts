import { hash, verify } from '@node-rs/argon2'

// argon2id with OWASP's minimum (m=19 MiB, t=2, p=1). @node-rs/argon2 hashes on libuv's thread pool,
// off the event loop. `2` is Algorithm.Argon2id, a const enum that isolated modules cannot import.
const ARGON2ID = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

export async function hashPassword (password: string): Promise<string> {
  return await hash(password, ARGON2ID)
}

/**
 * Checks a password against a stored hash (argon2's own comparison is constant-time). With no stored
 * hash (unknown user) it checks against a dummy hash of the same cost, so both cases take as long.
 */
export async function passwordVerifier (): Promise<(storedHash: string | undefined, password: string) => Promise<boolean>> {
  const dummy = await hashPassword('not-a-password: timing filler for unknown users')
  return async function verifyPassword (storedHash, password) {
    if (storedHash === undefined) {
      await verify(dummy, password).catch(() => false)
      return false
    }
    try {
      return await verify(storedHash, password)
    } catch {
      return false
    }
  }
}
