import type { FastifyRequest } from 'fastify'
import { AdminRequired, AuthorizationRequired, FreshTokenRequired, TokenRevoked, WrongTokenType } from '../http'
import { isFresh, type TokenClaims } from '../tokens'
import { bearerToken } from './bearer'

/** What a route asks of its caller's token. */
export interface Requirement {
  type: TokenClaims['type']
  fresh?: boolean
  admin?: boolean
  /** Anonymous requests pass with request.user null; a present token must still be good. */
  optional?: boolean
  /**
   * nginx's auth_request: the subrequest is always a GET, so CSRF is checked against the method
   * of the request it guards, X-Original-Method; without one it counts as state-changing.
   */
  gateway?: boolean
}

/** Tokens carried in cookies (browsers), with their CSRF double submit. */
export interface CookieTokens {
  read: (request: FastifyRequest, type: TokenClaims['type']) => string | undefined
  /** `method`: the method of the request the token is used for. */
  checkCsrf: (request: FastifyRequest, claims: TokenClaims, method: string) => void
}

/**
 * The checks behind the hooks, given by whoever mounts them: Gatehouse itself (its verifier, its
 * revocation store, admin rights read from the account) or the resource-server plugin (a verifier
 * from a secret or a JWKS, Gatehouse's Redis, the `is_admin` claim).
 */
export interface TokenChecks {
  /** Read `Authorization: Bearer`. */
  headers: boolean
  cookies?: CookieTokens | null
  /** Signature, expiry, not-before and the claims' shapes; async only when keys must be fetched. */
  verify: (token: string) => TokenClaims | Promise<TokenClaims>
  /** By token, session and user cut-off, in one round trip. */
  isRevoked: (claims: TokenClaims) => Promise<boolean>
  isAdmin: (claims: TokenClaims) => boolean | Promise<boolean>
  /** Keep the token as presented in `request.presentedToken` (Gatehouse's refresh retries). */
  keepToken?: boolean
}

export type AuthHook = (request: FastifyRequest) => Promise<void>

/** The method of the request nginx asks about; none (an old nginx config) counts as state-changing. */
function originalMethod (request: FastifyRequest): string {
  const method = request.headers['x-original-method']
  return typeof method === 'string' && method !== '' ? method : 'POST'
}

/**
 * An onRequest hook that lets a request through with `request.user` set to its token's claims, or
 * throws one of the errors of src/http. Checks run in Flask-JWT-Extended's order: find, decode,
 * type, fresh, revocation; then admin.
 */
export function authHook (checks: TokenChecks, requirement: Requirement): AuthHook {
  const { cookies } = checks
  return async function authenticate (request) {
    let token = checks.headers ? bearerToken(request.headers.authorization) : undefined
    const fromCookie = token === undefined && cookies != null
    if (fromCookie) token = cookies.read(request, requirement.type)
    if (token === undefined) {
      if (requirement.optional === true) return
      throw new AuthorizationRequired()
    }
    const verified = checks.verify(token)
    // Verification is synchronous but for a key fetch: no await, and no turn of the event loop, otherwise.
    const claims = verified instanceof Promise ? await verified : verified
    if (fromCookie) cookies.checkCsrf(request, claims, requirement.gateway === true ? originalMethod(request) : request.method)
    if (claims.type !== requirement.type) throw new WrongTokenType(requirement.type)
    if (requirement.fresh === true && !isFresh(claims, Date.now())) throw new FreshTokenRequired()
    if (await checks.isRevoked(claims)) throw new TokenRevoked()
    if (requirement.admin === true && !await checks.isAdmin(claims)) throw new AdminRequired()
    ;(request as FastifyRequest & { user: TokenClaims | null }).user = claims
    if (checks.keepToken === true) (request as FastifyRequest & { presentedToken: string | null }).presentedToken = token
  }
}

/** The hooks both Gatehouse and the resource-server plugin decorate, by name. */
export function accessHooks (checks: TokenChecks): Record<'requireAccess' | 'requireFresh' | 'requireAdmin' | 'optionalAccess', AuthHook> {
  return {
    requireAccess: authHook(checks, { type: 'access' }),
    requireFresh: authHook(checks, { type: 'access', fresh: true }),
    requireAdmin: authHook(checks, { type: 'access', admin: true }),
    optionalAccess: authHook(checks, { type: 'access', optional: true })
  }
}
