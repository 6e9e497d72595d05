import type { AsymmetricAlgorithm } from './algorithms'
import { KeyConfigError, type PublicJwk, type SigningKey } from './keys'

/**
 * How long past its last possible token a retired key still verifies: instances' clocks may
 * disagree by this much about when its successor took over.
 */
export const ROTATION_LEEWAY_MS = 60_000

/**
 * How long a token a key signs may live: the longer of the two lifetimes (seconds), in ms. A retired
 * key verifies this long after its successor starts.
 */
export function longestTokenLifetimeMs (lifetimes: { accessTokenExpires: number, refreshTokenExpires: number }): number {
  return Math.max(lifetimes.accessTokenExpires, lifetimes.refreshTokenExpires) * 1000
}

interface KeyWindow {
  key: SigningKey
  /** The compact-JWS header this service writes with the key, base64url: the fast path of verification. */
  headerSegment: string
  /** When the next key takes over signing (Infinity for the newest). */
  retiresAtMs: number
  /** After this, no token the key signed can still be valid: it stops verifying and leaves the JWKS. */
  verifiesUntilMs: number
}

export interface Keyring {
  algorithm: AsymmetricAlgorithm
  /** The key that signs at `nowMs`, with its header segment. */
  signer: (nowMs: number) => { key: SigningKey, headerSegment: string }
  /** The key named `kid` if it may verify at `nowMs`: looked up among the configured keys only. */
  verificationKey: (kid: string, nowMs: number) => SigningKey | undefined
  /** The kid of a header segment exactly as this service writes it, sparing a JSON parse. */
  kidOfHeader: (headerSegment: string) => string | undefined
  /** The public keys verifiers need at `nowMs`: every key that signs, will sign, or signed tokens still alive. */
  published: (nowMs: number) => PublicJwk[]
  /** Each key's place on the timeline at `nowMs`, oldest first (for operators: `gatehouse keys show`). */
  timeline: (nowMs: number) => KeyState[]
}

export interface KeyState {
  kid: string
  state: 'published' | 'signing' | 'retired' | 'expired'
  signsFromMs: number
  retiresAtMs: number
  verifiesUntilMs: number
}

/**
 * The configured keys on a timeline. A key is published (and verifies) from the moment it is
 * loaded, signs from its `signsFromMs` until the next key's, and verifies after that until the
 * longest-lived token it may have signed has expired: `maxLifetimeMs` (the refresh token's
 * lifetime, or the access token's if longer) plus ROTATION_LEEWAY_MS. So each instance, given the
 * same keys, switches signer at the same instant and retires keys without being told.
 */
export function createKeyring (
  algorithm: AsymmetricAlgorithm, keys: readonly SigningKey[], maxLifetimeMs: number, nowMs: number
): Keyring {
  if (keys.length === 0) throw new KeyConfigError('no signing key is configured')
  const sorted = [...keys].sort((a, b) => a.signsFromMs - b.signsFromMs)
  if (sorted[0].signsFromMs > nowMs) {
    throw new KeyConfigError(`no key signs yet: the first starts at ${new Date(sorted[0].signsFromMs).toISOString()}`)
  }
  const windows: KeyWindow[] = sorted.map((key, index) => {
    const retiresAtMs = sorted[index + 1]?.signsFromMs ?? Number.POSITIVE_INFINITY
    const header = JSON.stringify({ alg: algorithm, typ: 'JWT', kid: key.kid })
    return {
      key,
      headerSegment: Buffer.from(header).toString('base64url'),
      retiresAtMs,
      verifiesUntilMs: retiresAtMs + maxLifetimeMs + ROTATION_LEEWAY_MS
    }
  })
  const byKid = new Map(windows.map((window) => [window.key.kid, window]))
  const kidByHeader = new Map(windows.map((window) => [window.headerSegment, window.key.kid]))

  return {
    algorithm,
    signer (now) {
      // Few keys, newest last: the first from the end that has started.
      for (let index = windows.length - 1; index >= 0; index--) {
        if (windows[index].key.signsFromMs <= now) return { key: windows[index].key, headerSegment: windows[index].headerSegment }
      }
      return { key: windows[0].key, headerSegment: windows[0].headerSegment }
    },
    verificationKey (kid, now) {
      const window = byKid.get(kid)
      return window !== undefined && now < window.verifiesUntilMs ? window.key : undefined
    },
    kidOfHeader: (headerSegment) => kidByHeader.get(headerSegment),
    published: (now) => windows.filter((window) => now < window.verifiesUntilMs).map((window) => window.key.jwk),
    timeline: (now) => windows.map(({ key, retiresAtMs, verifiesUntilMs }) => ({
      kid: key.kid,
      state: now < key.signsFromMs ? 'published' : now < retiresAtMs ? 'signing' : now < verifiesUntilMs ? 'retired' : 'expired',
      signsFromMs: key.signsFromMs,
      retiresAtMs,
      verifiesUntilMs
    }))
  }
}
