import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import fp from 'fastify-plugin'
import { InvalidToken, TokenExpired } from '../src/errors'
import { nowSeconds } from '../src/revocation-store'
import { invalidClaim, type TokenClaims } from '../src/token-claims'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims | null
  }
}

export interface TokenOptions {
  secret: string
  accessTokenExpires: number
  refreshTokenExpires: number
}

export interface TokenSubject {
  id: number
  isAdmin: boolean
}

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'Bearer'
  expires_in: number
}

function tokenService (fastify: import('fastify').FastifyInstance, options: TokenOptions) {
  function sign (subject: TokenSubject, type: TokenClaims['type'], fresh: boolean, sid: string, lifetime: number): string {
    const iat = nowSeconds()
    const claims: TokenClaims = {
      sub: String(subject.id), type, fresh, jti: randomUUID(), sid, iat, nbf: iat, exp: iat + lifetime, is_admin: subject.isAdmin
    }
    return fastify.jwt.sign(claims)
  }

  return {
    /** The tokens of a password login: a fresh access token and a refresh token of one new session. */
    issuePair (subject: TokenSubject): TokenPair {
      const sid = randomUUID()
      return {
        access_token: sign(subject, 'access', true, sid, options.accessTokenExpires),
        refresh_token: sign(subject, 'refresh', false, sid, options.refreshTokenExpires),
        token_type: 'Bearer',
        expires_in: options.accessTokenExpires
      }
    },

    /** A non-fresh access token in the session of the refresh token that asked for it. */
    issueAccess (subject: TokenSubject, refreshClaims: TokenClaims): string {
      return sign(subject, 'access', false, refreshClaims.sid ?? refreshClaims.jti, options.accessTokenExpires)
    },

    /** The latest any token of a session issued now can expire: how long a revocation must be kept. */
    sessionExpiresAt (): number {
      return nowSeconds() + options.refreshTokenExpires
    },

    /**
     * Checks signature (HS256 only), expiry and not-before, then the claims' shapes; throws one of
     * our 401 errors. fast-jwt's own verifier is built once at registration, with no per-call options.
     */
    verify (token: string): TokenClaims {
      let payload: Record<string, unknown>
      try {
        payload = fastify.jwt.verify(token)
      } catch (error) {
        throw verificationError(error as { code?: string })
      }
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        throw new InvalidToken('The token payload is not a JSON object.')
      }
      const claim = invalidClaim(payload)
      if (claim !== undefined) throw new InvalidToken(`The token's ${claim} claim is missing or malformed.`)
      return payload as unknown as TokenClaims
    }
  }
}

function verificationError (error: { code?: string }): Error {
  switch (error.code) {
    case 'FAST_JWT_EXPIRED': return new TokenExpired()
    case 'FAST_JWT_INVALID_SIGNATURE': return new InvalidToken('Signature verification failed.')
    case 'FAST_JWT_INACTIVE': return new InvalidToken('The token is not yet valid.')
    case 'FAST_JWT_INVALID_ALGORITHM': return new InvalidToken('The token algorithm is not allowed.')
    case 'FAST_JWT_MISSING_SIGNATURE': return new InvalidToken('The token is not signed.')
    case 'FAST_JWT_MISSING_REQUIRED_CLAIM': return new InvalidToken('The token is missing a required claim.')
    case 'FAST_JWT_MALFORMED': return new InvalidToken('The token is malformed.')
    default: return new InvalidToken('The token is invalid.')
  }
}

export type TokenService = ReturnType<typeof tokenService>

declare module 'fastify' {
  interface FastifyInstance {
    tokens: TokenService
  }
}

export default fp<TokenOptions>(async function tokens (fastify, options) {
  await fastify.register(fastifyJwt, {
    secret: options.secret,
    sign: { algorithm: 'HS256' },
    verify: { algorithms: ['HS256'], requiredClaims: ['sub', 'type', 'jti', 'exp'] }
  })
  fastify.decorate('tokens', tokenService(fastify, options))
}, { name: 'tokens' })
