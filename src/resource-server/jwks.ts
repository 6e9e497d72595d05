import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import {
  createTokenVerifier, keyProblem, SIGNING_ALGORITHMS, type AsymmetricAlgorithm, type ClaimRules, type TokenClaims, type VerificationKeys
} from '../tokens'

export interface JwksVerifierOptions {
  url: string
  /** Pins the algorithm; by default the one the first JWKS names (all its keys must agree). */
  algorithm?: AsymmetricAlgorithm
  /** An unknown kid fetches the JWKS again at most this often. */
  refetchIntervalMs: number
  cacheSize: number
  claimRules: ClaimRules
  log: FastifyBaseLogger
}

const FETCH_TIMEOUT_MS = 5000
// Without a Cache-Control max-age, the JWKS is kept this long (Gatehouse always sends one).
const DEFAULT_MAX_AGE_MS = 300_000
const MAX_AGE_CAP_MS = 86_400_000
const MAX_JWKS_BYTES = 1 << 20
const ASYMMETRIC = SIGNING_ALGORITHMS.filter((algorithm) => algorithm !== 'HS256') as AsymmetricAlgorithm[]

interface KeySet {
  keys: Map<string, KeyObject>
  algorithm: AsymmetricAlgorithm
}

/** How long a response may be kept: its max-age, none for no-store or no-cache. */
export function maxAgeMs (cacheControl: string | null): number {
  if (cacheControl === null) return DEFAULT_MAX_AGE_MS
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0
  const match = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl)
  return match === null ? DEFAULT_MAX_AGE_MS : Math.min(Number(match[1]) * 1000, MAX_AGE_CAP_MS)
}

/**
 * The usable keys of a JWKS: signature keys of the one algorithm, public halves only. A key that
 * does not fit (another algorithm, a short RSA modulus, a wrong curve, a symmetric `oct` key) is
 * left out, never trusted: a JWKS cannot widen what the verifier accepts.
 */
export function parseJwks (body: unknown, pinned: AsymmetricAlgorithm | undefined, log: FastifyBaseLogger): KeySet {
  const list = (body as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('the JWKS has no keys array')
  const candidates = list.filter((jwk): jwk is Record<string, unknown> => jwk !== null && typeof jwk === 'object' &&
    typeof jwk.kid === 'string' && ASYMMETRIC.includes(jwk.alg as AsymmetricAlgorithm) && (jwk.use === undefined || jwk.use === 'sig'))
  const named = new Set(candidates.map((jwk) => jwk.alg as AsymmetricAlgorithm))
  if (pinned === undefined && named.size > 1) throw new Error(`the JWKS mixes algorithms (${[...named].join(', ')}): set the algorithm option`)
  const algorithm = pinned ?? [...named][0]
  if (algorithm === undefined) throw new Error('the JWKS holds no RS256, ES256 or EdDSA signature key')
  const keys = new Map<string, KeyObject>()
  for (const jwk of candidates) {
    if (jwk.alg !== algorithm) continue
    const { kty, crv, n, e, x, y } = jwk
    let key: KeyObject
    try {
      // Only the public members are read, so a published private member (d) is never used.
      key = createPublicKey({ key: { kty, crv, n, e, x, y } as JsonWebKey, format: 'jwk' })
    } catch (error) {
      log.warn({ kid: jwk.kid, reason: (error as Error).message }, 'jwks key skipped')
      continue
    }
    const problem = keyProblem(algorithm, key)
    if (problem !== undefined) log.warn({ kid: jwk.kid, reason: problem }, 'jwks key skipped')
    else keys.set(jwk.kid as string, key)
  }
  // Gatehouse always publishes its signing key: an empty set is a wrong URL or a broken answer.
  if (keys.size === 0) throw new Error(`the JWKS holds no usable ${algorithm} key`)
  return { keys, algorithm }
}

function verificationKeys ({ keys, algorithm }: KeySet): VerificationKeys {
  // The header Gatehouse writes with each key, as its keyring does: most tokens skip a JSON parse.
  const kidByHeader = new Map([...keys.keys()].map((kid) => [
    Buffer.from(JSON.stringify({ alg: algorithm, typ: 'JWT', kid })).toString('base64url'), kid
  ]))
  return {
    algorithm,
    verificationKey: (kid) => { const publicKey = keys.get(kid); return publicKey === undefined ? undefined : { publicKey } },
    kidOfHeader: (headerSegment) => kidByHeader.get(headerSegment)
  }
}

/** The kid a token's header names, if it is readable; only read once a verification has failed. */
function kidOf (token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { kid?: unknown }
    return typeof header.kid === 'string' ? header.kid : undefined
  } catch {
    return undefined
  }
}

export interface JwksVerifier {
  /** The claims of a good token; a promise only while an unknown kid makes the JWKS be fetched again. */
  verify: (token: string) => TokenClaims | Promise<TokenClaims>
  close: () => void
}

/**
 * Verifies tokens with the keys of Gatehouse's JWKS. The JWKS is fetched once before the first
 * request (no answer, no start), kept as its Cache-Control says and then fetched again in the
 * background (with If-None-Match), the old keys serving meanwhile and kept when a fetch fails. A
 * token naming a kid the set lacks fetches it at once, at most once per `refetchIntervalMs`
 * whatever the tokens say: a stream of made-up kids costs Gatehouse one request per interval.
 * Each new key set gets a new verifier, so the verified-token cache never outlives a key.
 */
export async function createJwksVerifier (options: JwksVerifierOptions): Promise<JwksVerifier> {
  const { url, refetchIntervalMs, log } = options
  let keySet: KeySet | undefined
  let verifyToken: (token: string, nowMs: number) => TokenClaims = () => { throw new Error('no keys yet') }
  let etag: string | null = null
  let lastFetchMs = Number.NEGATIVE_INFINITY
  let inFlight: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false

  function schedule (delayMs: number): void {
    clearTimeout(timer)
    if (closed) return
    timer = setTimeout(() => { void refresh().catch(() => {}) }, Math.max(delayMs, refetchIntervalMs))
    timer.unref()
  }

  async function fetchKeys (): Promise<void> {
    lastFetchMs = Date.now()
    try {
      const response = await fetch(url, {
        headers: { accept: 'application/json', ...(etag !== null && keySet !== undefined ? { 'if-none-match': etag } : {}) },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS)
      })
      const keepMs = maxAgeMs(response.headers.get('cache-control'))
      if (response.status === 304 && keySet !== undefined) {
        schedule(keepMs)
        return
      }
      if (!response.ok) throw new Error(`${url} answered ${response.status}`)
      const text = await response.text()
      if (text.length > MAX_JWKS_BYTES) throw new Error(`${url} answered more than ${MAX_JWKS_BYTES} bytes`)
      const next = parseJwks(JSON.parse(text), options.algorithm ?? keySet?.algorithm, log)
      verifyToken = createTokenVerifier({
        keyring: verificationKeys(next), cacheSize: options.cacheSize, claimRules: options.claimRules
      })
      keySet = next
      etag = response.headers.get('etag')
      log.info({ jwks: url, kids: [...next.keys.keys()], algorithm: next.algorithm }, 'jwks fetched')
      schedule(keepMs)
    } catch (error) {
      schedule(refetchIntervalMs)
      throw error
    }
  }

  async function refresh (): Promise<void> {
    inFlight ??= fetchKeys().catch((error: unknown) => {
      log.warn({ jwks: url, reason: (error as Error).message }, 'jwks fetch failed: keeping the keys held')
    }).finally(() => { inFlight = undefined })
    await inFlight
  }

  async function afterRefetch (token: string, failure: unknown): Promise<TokenClaims> {
    if (inFlight === undefined) {
      if (Date.now() - lastFetchMs < refetchIntervalMs) throw failure
      void refresh()
    }
    await inFlight
    return verifyToken(token, Date.now())
  }

  try {
    await fetchKeys()
  } catch (error) {
    clearTimeout(timer)
    throw new Error(`the JWKS at ${url} could not be read: ${(error as Error).message}`)
  }

  return {
    verify (token) {
      try {
        return verifyToken(token, Date.now())
      } catch (error) {
        const kid = kidOf(token)
        if (kid === undefined || keySet?.keys.has(kid) === true) throw error
        return afterRefetch(token, error)
      }
    },
    close () {
      closed = true
      clearTimeout(timer)
    }
  }
}
