import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

// The answer to a spent refresh token waits in Redis or the database for a retry. It holds a live
// token pair, so it is sealed with a key only the refresh token's holder can derive: a copy of the
// store alone gives nothing.
function keyOf (refreshToken: string): Buffer {
  return createHash('sha256').update('gatehouse refresh answer\0').update(refreshToken).digest()
}

/** AES-256-GCM under a key derived from the refresh token: base64url of iv, tag and ciphertext. */
export function sealAnswer (answer: unknown, refreshToken: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyOf(refreshToken), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(answer), 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** The sealed answer, or undefined when it was not sealed with this refresh token. */
export function openAnswer<T> (sealed: string, refreshToken: string): T | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length < 29) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(refreshToken), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')) as T
  } catch {
    return undefined
  }
}
