import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto'
import { InvalidToken, TokenExpired } from '../http'
import { hasDuplicateTopLevelKey } from './json-duplicate-keys'
import type { Keyring } from './keyring'
import { signatureBytes, verifyInput, type SigningAlgorithm } from './algorithms'
import { DEFAULT_CLAIM_RULES, invalidClaim, normaliseClaims, unacceptedClaim, type ClaimRules, type TokenClaims } from './claims'

/**
 * The public keys a verifier looks up by kid: Gatehouse's keyring, or a JWKS fetched from Gatehouse
 * (the resource-server plugin).
 */
export interface VerificationKeys {
  algorithm: Keyring['algorithm']
  verificationKey: (kid: string, nowMs: number) => { publicKey: KeyObject } | undefined
  /** The kid of a header segment exactly as Gatehouse writes it, sparing a JSON parse. */
  kidOfHeader: (headerSegment: string) => string | undefined
}

export interface VerifierOptions {
  /** HS256: the shared secret. */
  secret?: string
  /** RS256, ES256 or EdDSA: the configured keys, looked up by the token's kid. */
  keyring?: VerificationKeys
  /** How many verified tokens to remember; 0 turns the cache off. */
  cacheSize: number
  /** Issuer, audience and where the identity is read (the JWT_DECODE_* and identity settings). */
  claimRules?: ClaimRules
  /** JWT_DECODE_LEEWAY in milliseconds: how far past `exp` or before `nbf` a token still passes. */
  leewayMs?: number
}

// Longer tokens are refused unread: ours are about 400 characters.
const MAX_TOKEN_LENGTH = 8192
// {"alg":"HS256","typ":"JWT"}: the header @fastify/jwt and PyJWT both write, so nearly every token
// skips header parsing.
const USUAL_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')
const BASE64URL = /^[A-Za-z0-9_-]+$/
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/

function malformed (): Error {
  return new InvalidToken('The token is malformed.')
}

function decodeJson (segment: string): unknown {
  if (!BASE64URL.test(segment)) throw malformed()
  const text = Buffer.from(segment, 'base64url').toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed()
  }
  if (hasDuplicateTopLevelKey(text)) throw new InvalidToken('The token names a claim or header twice.')
  return value
}

/**
 * Checks a header this service did not write byte for byte, and returns it. Exactly the configured
 * algorithm passes: an HS256 token never meets an RSA, EC or Ed25519 public key (key confusion).
 */
function checkHeader (segment: string, algorithm: SigningAlgorithm): Record<string, unknown> {
  const header = decodeJson(segment)
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw malformed()
  const { alg, typ, crit } = header as Record<string, unknown>
  if (alg === 'none' || alg === undefined || alg === '') throw new InvalidToken('The token is not signed.')
  if (alg !== algorithm) throw new InvalidToken('The token algorithm is not allowed.')
  if (typ !== undefined && typ !== 'JWT') throw new InvalidToken('The token type header is not JWT.')
  // We implement no JWS extension, so a token that demands one must be refused (RFC 7515 §4.1.11).
  if (crit !== undefined) throw new InvalidToken('The token demands an unsupported extension.')
  // jku, x5u, jwk and the like are ignored: keys are configured, never fetched or taken from a token.
  return header as Record<string, unknown>
}

type SignatureCheck = (token: string, first: number, second: number, nowMs: number) => void

/** HS256: one secret, and any kid is ignored, as Flask-JWT-Extended does. */
function hmacCheck (secret: string): SignatureCheck {
  const key: KeyObject = createSecretKey(Buffer.from(secret, 'utf8'))
  return function checkHmac (token, first, second) {
    const header = token.slice(0, first)
    if (header !== USUAL_HEADER) checkHeader(header, 'HS256')
    const signature = token.slice(second + 1)
    if (signature === '') throw new InvalidToken('The token is not signed.')
    if (!SIGNATURE.test(signature)) throw new InvalidToken('Signature verification failed.')
    const expected = createHmac('sha256', key).update(token.slice(0, second)).digest('base64url')
    // Compare the canonical encodings, so no second spelling of one signature is accepted.
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
      throw new InvalidToken('Signature verification failed.')
    }
  }
}

/** RS256, ES256, EdDSA: the key the token's kid names, if it is one of ours and still verifies. */
function publicKeyCheck (keyring: VerificationKeys): SignatureCheck {
  const { algorithm } = keyring
  return function checkPublicKey (token, first, second, nowMs) {
    const headerSegment = token.slice(0, first)
    let kid = keyring.kidOfHeader(headerSegment)
    if (kid === undefined) {
      const header = checkHeader(headerSegment, algorithm)
      if (typeof header.kid !== 'string') throw new InvalidToken('The token names no signing key (kid).')
      kid = header.kid
    }
    const key = keyring.verificationKey(kid, nowMs)
    if (key === undefined) throw new InvalidToken('The token was signed by an unknown or retired key.')
    const signature = token.slice(second + 1)
    if (signature === '') throw new InvalidToken('The token is not signed.')
    if (!BASE64URL.test(signature)) throw new InvalidToken('Signature verification failed.')
    const bytes = Buffer.from(signature, 'base64url')
    // One spelling per signature: the canonical encoding of exactly the algorithm's length.
    if (bytes.length !== signatureBytes(algorithm, key.publicKey) || bytes.toString('base64url') !== signature ||
      !verifyInput(algorithm, key.publicKey, token.slice(0, second), bytes)) {
      throw new InvalidToken('Signature verification failed.')
    }
  }
}

/**
 * The hot-path verifier (HS256 with a secret, or RS256, ES256, EdDSA with a keyring), in place of @fastify/jwt's `request.jwtVerify()`, whose
 * layering costs several times the HMAC itself, and whose cache hashes every token to look it up:
 * `npm run bench:verify` compares the two (docs/performance.md).
 *
 * Verified tokens are remembered in a bounded map keyed by the whole token string, signature
 * included, so a token can only ever find its own claims; a remembered token is still checked
 * against `exp` on every use, so the cache never outlives it. Revocation is not cached: it is
 * checked on every request by the caller.
 */
export function createTokenVerifier ({ secret, keyring, cacheSize, claimRules = DEFAULT_CLAIM_RULES, leewayMs = 0 }: VerifierOptions): (token: string, nowMs: number) => TokenClaims {
  if ((secret === undefined) === (keyring === undefined)) throw new Error('a verifier takes a secret or a keyring')
  const checkSignature = keyring !== undefined ? publicKeyCheck(keyring) : hmacCheck(secret!)
  const cache = new Map<string, TokenClaims>()

  function verifySigned (token: string, nowMs: number): TokenClaims {
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidToken('The token is too long.')
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first <= 0 || second === -1 || token.indexOf('.', second + 1) !== -1) throw malformed()
    checkSignature(token, first, second, nowMs)

    const payload = decodeJson(token.slice(first + 1, second))
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new InvalidToken('The token payload is not a JSON object.')
    }
    // Seed-era layouts (3.x `identity`, `user_claims`, integer ids) become ours once, before the cache.
    const normalised = normaliseClaims(payload as Record<string, unknown>, claimRules)
    const claim = invalidClaim(normalised)
    if (claim !== undefined) throw new InvalidToken(`The token's ${claim} claim is missing or malformed.`)
    const claims = normalised as unknown as TokenClaims
    const refused = unacceptedClaim(claims, claimRules)
    if (refused !== undefined) throw new InvalidToken(`The token's ${refused} claim is missing or not accepted here.`)
    if (claims.nbf !== undefined && claims.nbf * 1000 > nowMs + leewayMs) throw new InvalidToken('The token is not yet valid.')
    return Object.freeze(claims)
  }

  return function verify (token: string, nowMs: number): TokenClaims {
    let claims = cache.get(token)
    if (claims === undefined) {
      claims = verifySigned(token, nowMs)
      if (claims.exp * 1000 + leewayMs <= nowMs) throw new TokenExpired()
      // Access tokens only: they are what protected requests present again and again. A refresh
      // token is presented once where rotation spends it, and rarely otherwise; cached, each would
      // push out an access token and hold its ~1 KB until evicted.
      if (cacheSize > 0 && claims.type === 'access') {
        // Insertion order makes the oldest entry the first: evict it when full.
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string)
        cache.set(token, claims)
      }
      return claims
    }
    if (claims.exp * 1000 + leewayMs <= nowMs) {
      cache.delete(token)
      throw new TokenExpired()
    }
    return claims
  }
}
