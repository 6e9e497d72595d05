import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import { createKeyring, longestTokenLifetimeMs, type Keyring, createKeyringSigner, createTokenVerifier } from '../../src/tokens'
import { nowSeconds } from '../../src/revocation'
import type { AsymmetricAlgorithm, ClaimRules, PublicJwk, Signing, SigningKey, TokenClaims } from '../../src/tokens'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims | null
  }
}

export interface TokenOptions {
  signing: Signing
  accessTokenExpires: number
  refreshTokenExpires: number
  verifyCacheSize: number
  /** Tokens carry a `csrf` claim, for cookie clients to echo (double submit). */
  csrfClaims: boolean
  /** JWT_ENCODE_ISSUER and JWT_ENCODE_AUDIENCE: written into every token minted. */
  encode?: { issuer?: string, audience?: string | string[] }
  /** What a token must say to be accepted (JWT_DECODE_*, the identity settings). */
  claimRules?: ClaimRules
  /** JWT_DECODE_LEEWAY, in milliseconds. */
  leewayMs?: number
}

export interface TokenSubject {
  id: number
  isAdmin: boolean
  /** The account's credential version, stamped as `cv`. */
  credentialVersion?: number
}

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'Bearer'
  expires_in: number
}

function tokenService (fastify: import('fastify').FastifyInstance, options: TokenOptions) {
  const { signing, verifyCacheSize: cacheSize, claimRules, leewayMs } = options
  const { issuer, audience } = options.encode ?? {}
  const maxLifetimeMs = longestTokenLifetimeMs(options)
  let keyring: Keyring | undefined
  let verifyToken: (token: string, nowMs: number) => TokenClaims
  let signClaims: (claims: TokenClaims, issuedMs: number) => string

  function useKeys (algorithm: AsymmetricAlgorithm, keys: readonly SigningKey[]): void {
    // Built whole before anything is swapped: a bad key set leaves the running one in place.
    const next = createKeyring(algorithm, keys, maxLifetimeMs, Date.now())
    verifyToken = createTokenVerifier({ keyring: next, cacheSize, claimRules, leewayMs })
    signClaims = createKeyringSigner(next)
    keyring = next
  }
  if (signing.algorithm === 'HS256') {
    verifyToken = createTokenVerifier({ secret: signing.secret, cacheSize, claimRules, leewayMs })
    signClaims = (claims) => fastify.jwt.sign(claims)
  } else {
    useKeys(signing.algorithm, signing.keys)
  }

  function sign (subject: TokenSubject, type: TokenClaims['type'], fresh: boolean, sid: string, lifetime: number, issuedMs: number): string {
    const iat = Math.floor(issuedMs / 1000)
    const claims: TokenClaims = {
      sub: String(subject.id), type, fresh, jti: randomUUID(), sid, iat, iat_ms: issuedMs, nbf: iat, exp: iat + lifetime, is_admin: subject.isAdmin
    }
    if (subject.credentialVersion !== undefined) claims.cv = subject.credentialVersion
    if (options.csrfClaims) claims.csrf = randomUUID()
    if (issuer !== undefined) claims.iss = issuer
    if (audience !== undefined) claims.aud = audience
    fastify.metrics.tokenIssued(type)
    return signClaims(claims, issuedMs)
  }

  return {
    /** An access token's lifetime in seconds (the `expires_in` of token answers). */
    accessTokenExpires: options.accessTokenExpires,
    /**
     * The tokens of a password login: a fresh access token and a refresh token of one new session,
     * issued after `afterMs` (a user-wide revocation cut-off just set) when given. `issuedMs`
     * backdates them to when the login last read its credential, so a cut-off written after that
     * read covers them.
     */
    issuePair (subject: TokenSubject, afterMs = 0, { sid = randomUUID(), issuedMs = Date.now() }: { sid?: string, issuedMs?: number } = {}): TokenPair {
      const iat = Math.max(issuedMs, afterMs + 1)
      return {
        access_token: sign(subject, 'access', true, sid, options.accessTokenExpires, iat),
        refresh_token: sign(subject, 'refresh', false, sid, options.refreshTokenExpires, iat),
        token_type: 'Bearer',
        expires_in: options.accessTokenExpires
      }
    },

    /** A fresh access token in an existing session: the password was entered again (/login/fresh). */
    issueFresh (subject: TokenSubject, sid: string): string {
      return sign(subject, 'access', true, sid, options.accessTokenExpires, Date.now())
    },

    /**
     * A non-fresh access token in the session of the refresh token that asked for it, dated
     * `issuedMs` (when the refresh read the account) as rotate's are.
     */
    issueAccess (subject: TokenSubject, refreshClaims: TokenClaims, issuedMs = Date.now()): string {
      return sign(subject, 'access', false, refreshClaims.sid ?? refreshClaims.jti, options.accessTokenExpires, issuedMs)
    },

    /**
     * Rotation: a non-fresh access token and a new refresh token, both in the presented token's
     * session, dated `issuedMs`: from before the refresh read the account, so a cut-off written
     * after that read covers them.
     */
    rotate (subject: TokenSubject, refreshClaims: TokenClaims, issuedMs = Date.now()): { access_token: string, refresh_token: string } {
      const sid = refreshClaims.sid ?? refreshClaims.jti
      const iat = issuedMs
      return {
        access_token: sign(subject, 'access', false, sid, options.accessTokenExpires, iat),
        refresh_token: sign(subject, 'refresh', false, sid, options.refreshTokenExpires, iat)
      }
    },

    /** The `exp` (seconds) of a refresh token dated `issuedMs`, as issuePair and rotate sign it. */
    refreshExpiresAt (issuedMs: number): number {
      return Math.floor(issuedMs / 1000) + options.refreshTokenExpires
    },

    /** The latest any token of a session issued now can expire: how long a revocation must be kept. */
    sessionExpiresAt (): number {
      return nowSeconds() + options.refreshTokenExpires
    },

    /**
     * Swaps in a new key set (SIGHUP after keys.json changed): the keyring, the signer and a fresh
     * verified-token cache. Throws, keeping the current keys, when the set cannot work.
     */
    reloadKeys (keys: readonly SigningKey[]): void {
      if (signing.algorithm === 'HS256') throw new Error('HS256 signs with a secret: there are no keys to reload')
      useKeys(signing.algorithm, keys)
    },

    /** The public keys of /.well-known/jwks.json: none for HS256, whose secret is never published. */
    publishedKeys (): PublicJwk[] {
      return keyring === undefined ? [] : keyring.published(Date.now())
    },

    /**
     * Checks signature (the configured algorithm only), expiry, not-before and the claims' shapes, throwing one of our
     * 401 errors: on the hot path, so it is our lean verifier rather than @fastify/jwt's.
     */
    verify (token: string): TokenClaims {
      return verifyToken(token, Date.now())
    }
  }
}

export type TokenService = ReturnType<typeof tokenService>

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
  }
}

export default fp<TokenOptions>(async function tokens (fastify, options) {
  if (options.signing.algorithm === 'HS256') {
    // @fastify/jwt signs, and keeps its public decorators (fastify.jwt, request.jwtVerify) pinned alike.
    // The hooks (plugins/app/auth.ts) are the way to authenticate; a plugin author who reaches for
    // request.jwtVerify all the same gets revocation checked too, never a bare signature check.
    await fastify.register(fastifyJwt, {
      secret: options.signing.secret,
      sign: { algorithm: 'HS256' },
      // The same issuer, audience and leeway rules as the hot-path verifier.
      verify: {
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'type', 'jti', 'exp', 'iat',
          ...(options.claimRules?.issuer === undefined ? [] : ['iss']), ...(options.claimRules?.audience === undefined ? [] : ['aud'])],
        ...(options.claimRules?.issuer === undefined ? {} : { allowedIss: options.claimRules.issuer }),
        ...(options.claimRules?.audience === undefined ? {} : { allowedAud: [...options.claimRules.audience] }),
        clockTolerance: options.leewayMs ?? 0
      },
      trusted: async (_request, decoded) => !await fastify.revocation.isRevoked(decoded as TokenClaims)
    })
  } else {
    // Several keys on a timeline, chosen per token by kid: @fastify/jwt holds one key, so the keyring
    // signs (node:crypto), the lean verifier checks, and request.user is decorated here.
    fastify.decorateRequest('user', null)
  }
  fastify.decorate('tokens', tokenService(fastify, options))
}, { name: 'gatehouse-tokens', fastify: '5.x', dependencies: ['gatehouse-metrics', 'gatehouse-revocation'] })
