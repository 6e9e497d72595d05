import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { MIN_SECRET_BYTES } from '../config'

/** A new HS256 signing secret: 256 random bits, base64url (43 characters). */
export function newSecret (): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Reads the signing secret kept in `file`, creating it (256 random bits, mode 0600) on first use.
 * Returns whether it was created, so the caller can warn.
 */
export function readOrCreateSecret (file: string): { secret: string, created: boolean } {
  try {
    const secret = readFileSync(file, 'utf8').trim()
    if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      throw new Error(`${file} holds fewer than ${MIN_SECRET_BYTES} bytes; remove it or set JWT_SECRET_KEY`)
    }
    return { secret, created: false }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const secret = newSecret()
  // 'wx' fails if another process created the file meanwhile: then read theirs.
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readOrCreateSecret(file)
    throw error
  }
  return { secret, created: true }
}
