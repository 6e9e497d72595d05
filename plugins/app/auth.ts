import type { onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { isAdminAccount } from '../../src/accounts'
import { accessHooks, authHook, type TokenChecks } from '../../src/auth'
import { accountMissing } from '../../src/http'
import type { TokenClaims } from '../../src/tokens'

declare module 'fastify' {
  interface FastifyInstance {
    requireAccess: onRequestAsyncHookHandler
    requireFresh: onRequestAsyncHookHandler
    requireAdmin: onRequestAsyncHookHandler
    requireRefresh: onRequestAsyncHookHandler
    /** requireAccess for GET /auth/verify, CSRF checked for the guarded request's method. */
    requireGatewayAccess: onRequestAsyncHookHandler
    optionalAccess: onRequestAsyncHookHandler
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

// request.user is @fastify/jwt's decorator. The hooks are src/auth's, shared with the
// resource-server plugin; what is Gatehouse's own is where the checks look.
export default fp<AuthOptions>(async function auth (fastify, { headers }) {
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

  async function isForeignTokenRevoked (claims: TokenClaims): Promise<boolean> {
    // A token minted elsewhere (Flask): its sub may name no account here, never created or
    // deleted after the token was issued. Ours need no such read: they are minted for an
    // existing account, and a deletion's user cut-off revokes them.
    const [revoked, exists] = await Promise.all([fastify.revocation.isRevoked(claims), accountExists(claims.sub)])
    if (revoked) return true
    if (!exists) throw accountMissing()
    return false
  }

  // Not async: on every protected request, the store's own promise is the answer.
  function isRevoked (claims: TokenClaims): Promise<boolean> {
    return claims.sid !== undefined ? fastify.revocation.isRevoked(claims) : isForeignTokenRevoked(claims)
  }

  const checks: TokenChecks = {
    headers,
    cookies: fastify.tokenCookies,
    verify: fastify.tokens.verify,
    isRevoked,
    isAdmin: isAdminNow,
    keepToken: true
  }
  for (const [name, hook] of Object.entries(accessHooks(checks))) fastify.decorate(name, hook)
  fastify.decorate('requireRefresh', authHook(checks, { type: 'refresh' }))
  fastify.decorate('requireGatewayAccess', authHook(checks, { type: 'access', gateway: true }))
}, { name: 'gatehouse-auth', fastify: '5.x', dependencies: ['gatehouse-tokens', 'gatehouse-revocation', 'gatehouse-users-repository', 'gatehouse-token-cookies'] })
