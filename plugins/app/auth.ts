import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { isAdminAccount } from '../../src/accounts'
import {
  accountMissing, AdminRequired, AuthorizationRequired, FreshTokenRequired, InvalidToken, TokenRevoked, WrongTokenType
} from '../../src/http'
import { isFresh, type TokenClaims } from '../../src/tokens'

interface Requirement {
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

declare module 'fastify' {
  interface FastifyInstance {
    requireAccess: onRequestAsyncHookHandler
    requireFresh: onRequestAsyncHookHandler
    requireAdmin: onRequestAsyncHookHandler
    requireRefresh: onRequestAsyncHookHandler
    optionalAccess: onRequestAsyncHookHandler
    /** requireAccess for GET /auth/verify, CSRF checked for the guarded request's method. */
    requireGatewayAccess: onRequestAsyncHookHandler
    /** Whether the token's user is an admin now: the `is_admin` claim may predate a demotion. */
    isAdminNow: (claims: TokenClaims) => Promise<boolean>
  }
  interface FastifyRequest {
    /** The token request.user was read from, as presented (a refresh retry's answer is sealed with it). */
    presentedToken: string | null
  }
}

export interface AuthOptions {
  /** Read `Authorization: Bearer`; cookies are read when the token-cookies plugin is on. */
  headers: boolean
}

// The ids the database hands out; any other sub names no account.
const ACCOUNT_ID = /^[1-9][0-9]{0,14}$/

const BAD_HEADER = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"

/**
 * The token of `Authorization: Bearer <JWT>`, or undefined when the request carries none. Another
 * scheme (Basic…) counts as no token, as in Flask-JWT-Extended; a Bearer header that is not exactly
 * one token is malformed.
 */
function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return undefined
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (token === '' || token.includes(' ')) throw new InvalidToken(BAD_HEADER)
  return token
}

/** The method of the request nginx asks about; none (an old nginx config) counts as state-changing. */
function originalMethod (request: FastifyRequest): string {
  const method = request.headers['x-original-method']
  return typeof method === 'string' && method !== '' ? method : 'POST'
}

// request.user is @fastify/jwt's decorator. Checks run in Flask-JWT-Extended's order: find,
// decode, type, fresh, revocation; then admin.
export default fp<AuthOptions>(async function auth (fastify, { headers }) {
  const cookies = fastify.tokenCookies
  // Admin routes are few and rare: each reads the account, so a deleted or demoted admin's
  // tokens lose their rights on the next request rather than at expiry.
  async function isAdminNow (claims: TokenClaims): Promise<boolean> {
    if (claims.is_admin !== true) return false
    const user = await fastify.users.findById(Number(claims.sub))
    return user !== undefined && isAdminAccount(user)
  }
  fastify.decorate('isAdminNow', isAdminNow)
  fastify.decorateRequest('presentedToken', null)

  async function accountExists (sub: string): Promise<boolean> {
    return ACCOUNT_ID.test(sub) && await fastify.users.findById(Number(sub)) !== undefined
  }

  function hook (requirement: Requirement): onRequestAsyncHookHandler {
    return async function authenticate (request: FastifyRequest) {
      let token = headers ? bearerToken(request.headers.authorization) : undefined
      const fromCookie = token === undefined && cookies !== null
      if (fromCookie) token = cookies.read(request, requirement.type)
      if (token === undefined) {
        if (requirement.optional === true) return
        throw new AuthorizationRequired()
      }
      const claims = fastify.tokens.verify(token)
      if (fromCookie) cookies.checkCsrf(request, claims, requirement.gateway === true ? originalMethod(request) : request.method)
      if (claims.type !== requirement.type) throw new WrongTokenType(requirement.type)
      if (requirement.fresh === true && !isFresh(claims, Date.now())) throw new FreshTokenRequired()
      if (claims.sid === undefined) {
        // A token minted elsewhere (Flask): its sub may name no account here, never created or
        // deleted after the token was issued. Ours need no such read: they are minted for an
        // existing account, and a deletion's user cut-off revokes them.
        const [revoked, exists] = await Promise.all([fastify.revocation.isRevoked(claims), accountExists(claims.sub)])
        if (revoked) throw new TokenRevoked()
        if (!exists) throw accountMissing()
      } else if (await fastify.revocation.isRevoked(claims)) {
        throw new TokenRevoked()
      }
      if (requirement.admin === true && !await isAdminNow(claims)) throw new AdminRequired()
      request.user = claims
      request.presentedToken = token
    }
  }

  fastify.decorate('requireAccess', hook({ type: 'access' }))
  fastify.decorate('requireFresh', hook({ type: 'access', fresh: true }))
  fastify.decorate('requireAdmin', hook({ type: 'access', admin: true }))
  fastify.decorate('requireRefresh', hook({ type: 'refresh' }))
  fastify.decorate('optionalAccess', hook({ type: 'access', optional: true }))
  fastify.decorate('requireGatewayAccess', hook({ type: 'access', gateway: true }))
}, { name: 'gatehouse-auth', fastify: '5.x', dependencies: ['gatehouse-tokens', 'gatehouse-revocation', 'gatehouse-users-repository', 'gatehouse-token-cookies'] })
