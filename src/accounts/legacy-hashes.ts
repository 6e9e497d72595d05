import { pbkdf2, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import bcrypt from 'bcryptjs'

// Hashes an imported Flask app may hold (`gatehouse user import`): Werkzeug's
// generate_password_hash (`pbkdf2:<digest>:<iterations>$salt$hex`, `scrypt:<n>:<r>:<p>$salt$hex`)
// and bcrypt (`$2a$`, `$2b$`, `$2y$`). They are kept on import and checked at the next login, which
// rehashes the password with argon2id. Their costs are bounded, so a doctored row cannot make a
// login take minutes.
const WERKZEUG_PBKDF2 = /^pbkdf2:(sha1|sha224|sha256|sha384|sha512):([1-9][0-9]{0,7})\$([^$]{1,128})\$([0-9a-f]{40,128})$/
const WERKZEUG_SCRYPT = /^scrypt:([1-9][0-9]{0,7}):([1-9][0-9]?):([1-9][0-9]?)\$([^$]{1,128})\$([0-9a-f]{128})$/
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-5])\$[./A-Za-z0-9]{53}$/
const MAX_PBKDF2_ITERATIONS = 10_000_000
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024

const pbkdf2Async = promisify(pbkdf2)
const scryptAsync = promisify(scrypt) as (password: string, salt: string, keylen: number, options: { N: number, r: number, p: number, maxmem: number }) => Promise<Buffer>

/** Whether `stored` is a hash this module verifies (else an import takes it for a plain-text password). */
export function isLegacyHash (stored: string): boolean {
  return WERKZEUG_PBKDF2.test(stored) || WERKZEUG_SCRYPT.test(stored) || BCRYPT.test(stored)
}

function sameHex (expected: Buffer, hex: string): boolean {
  const stored = Buffer.from(hex, 'hex')
  return stored.length === expected.length && timingSafeEqual(stored, expected)
}

/** Checks a password against a Werkzeug or bcrypt hash; false for anything else. Off the event loop but for bcrypt. */
export async function verifyLegacyHash (stored: string, password: string): Promise<boolean> {
  const pbkdf2Parts = WERKZEUG_PBKDF2.exec(stored)
  if (pbkdf2Parts !== null) {
    const [, digest, iterations, salt, hex] = pbkdf2Parts
    if (Number(iterations) > MAX_PBKDF2_ITERATIONS) return false
    // Werkzeug derives a key of the digest's own length, from the salt's UTF-8 bytes.
    const length = hex.length / 2
    return sameHex(await pbkdf2Async(password, salt, Number(iterations), length, digest), hex)
  }
  const scryptParts = WERKZEUG_SCRYPT.exec(stored)
  if (scryptParts !== null) {
    const [, n, r, p, salt, hex] = scryptParts
    const [N, R, P] = [Number(n), Number(r), Number(p)]
    const maxmem = 132 * N * R * P
    if ((N & (N - 1)) !== 0 || maxmem > MAX_SCRYPT_MEMORY) return false
    return sameHex(await scryptAsync(password, salt, 64, { N, r: R, p: P, maxmem }), hex)
  }
  if (BCRYPT.test(stored)) {
    // bcrypt reads at most 72 bytes of a password; bcryptjs compares in constant time.
    return await bcrypt.compare(password, stored)
  }
  return false
}
