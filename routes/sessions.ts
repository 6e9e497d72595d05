import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { StoredUser } from '../plugins/app/users-repository'
import { isAdminAccount, audit, clientGone, needsRehash, canonicalUsername } from '../src/accounts'
import { accountMissing, InvalidCredentials, TokenRevoked, TooManyRequests, CookieSession, DatabaseText, Message, NO_STORE, TokenPair, TokenRouteErrors as Errors } from '../src/http'

export interface SessionsRoutesOptions {
  /** /refresh answers a new refresh token and spends the presented one. */
  refreshRotation: boolean
  /** False with JWT_TOKEN_LOCATION=cookies: tokens are set as cookies only, never in a body. */
  tokensInBody: boolean
}

const RefreshAnswer = Type.Object({ access_token: Type.String(), refresh_token: Type.Optional(Type.String()) })

// Login takes any stored username and password; the length rules are for new accounts.
const LoginBody = Type.Object({
  username: DatabaseText({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 })
})

/** Sessions: /login, /logout, /logout/all and /refresh. */
const sessions: FastifyPluginAsyncTypebox<SessionsRoutesOptions> = async function (fastify, { refreshRotation, tokensInBody }) {
  const { passwords } = fastify
  const isAdmin = (user: StoredUser): boolean => isAdminAccount(user)
  const cookieSession = (message: string) => ({ message, expires_in: fastify.tokens.accessTokenExpires })

  fastify.post('/login', {
    schema: {
      tags: ['sessions'],
      summary: 'Log in with a password: a fresh access token and a refresh token',
      body: LoginBody, response: { 200: tokensInBody ? TokenPair : CookieSession, ...Errors }
    }
  }, async function login (request, reply) {
    const username = canonicalUsername(request.body.username)
    const { password } = request.body
    const { attempt, retryAfter } = await fastify.loginThrottle.reserve(username, request.ip)
    if (attempt === undefined) {
      audit(request, 'login_throttled')
      void reply.header('retry-after', String(retryAfter))
      throw new TooManyRequests()
    }
    let user: StoredUser | undefined
    let verified: boolean
    try {
      user = await fastify.users.findByLoginName(request.body.username)
      verified = await passwords.verify(user?.password_hash, password, clientGone(request))
    } catch (error) {
      await attempt.settle('abandoned').catch(() => {})
      throw error
    }
    // Tokens are dated from before the credential is read again: a password change or deletion
    // committed after that read wrote its revocation cut-off later, which covers them.
    const issuedMs = Date.now()
    if (!verified || user === undefined || await fastify.users.credentialVersion(user.id) !== user.credential_version) {
      await attempt.settle('failed')
      audit(request, 'login_failed', { userId: user?.id })
      throw new InvalidCredentials()
    }
    await attempt.settle('succeeded')
    if (needsRehash(user.password_hash)) await fastify.users.rehashPassword(user.id, await passwords.hash(password), user.credential_version)
    audit(request, 'login_succeeded', { userId: user.id })
    void reply.headers(NO_STORE)
    const pair = fastify.tokens.issuePair({ id: user.id, isAdmin: isAdmin(user), credentialVersion: user.credential_version }, 0, issuedMs)
    fastify.tokenCookies?.set(reply, pair)
    return tokensInBody ? pair : cookieSession('Logged in.')
  })

  fastify.post('/logout', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['sessions'],
      summary: 'Log out: the access and refresh tokens of this login stop working',
      response: { 200: Message, ...Errors }
    }
  }, async function logout (request, reply) {
    const claims = request.user!
    await fastify.revocation.revokeToken(claims.sub, claims.jti, claims.exp)
    await fastify.revocation.revokeSession(claims.sub, claims.sid ?? claims.jti, fastify.tokens.sessionExpiresAt())
    fastify.tokenCookies?.clear(reply)
    audit(request, 'logout', { userId: claims.sub })
    return { message: 'Successfully logged out.' }
  })

  fastify.post('/logout/all', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['sessions'],
      summary: 'Log out everywhere: every token of the user stops working',
      response: { 200: Message, ...Errors }
    }
  }, async function logoutEverywhere (request, reply) {
    const claims = request.user!
    await fastify.revocation.revokeUser(claims.sub, Date.now(), fastify.tokens.sessionExpiresAt())
    fastify.tokenCookies?.clear(reply)
    audit(request, 'sessions_revoked', { userId: claims.sub })
    return { message: 'Every session logged out.' }
  })

  fastify.post('/refresh', {
    onRequest: fastify.requireRefresh,
    schema: {
      tags: ['sessions'],
      summary: 'A new, not fresh, access token (and, with rotation, a new refresh token)',
      response: { 200: tokensInBody ? RefreshAnswer : CookieSession, ...Errors }
    }
  }, async function refresh (request, reply) {
    const claims = request.user!
    // Admin rights are read again from the account, so a change of them
    // reaches refreshed tokens. A password change since the token was issued (a newer credential
    // version) refuses it, and what is issued is dated from before this read, so a change
    // committed after it has its cut-off cover them.
    const issuedMs = Date.now()
    const user = await fastify.users.findById(Number(claims.sub))
    if (user === undefined) throw accountMissing()
    if (claims.cv !== undefined && claims.cv !== user.credential_version) throw new TokenRevoked()
    const subject = { id: user.id, isAdmin: isAdmin(user), credentialVersion: user.credential_version }
    void reply.headers(NO_STORE)
    if (!refreshRotation) {
      const access = { access_token: fastify.tokens.issueAccess(subject, claims, issuedMs) }
      fastify.tokenCookies?.set(reply, access)
      return tokensInBody ? access : cookieSession('Token refreshed.')
    }
    if (!await fastify.revocation.spendRefreshToken(claims.sub, claims.jti, claims.exp)) {
      // A spent refresh token presented again was copied: whoever holds the session now, it ends.
      await fastify.revocation.revokeSession(claims.sub, claims.sid ?? claims.jti, fastify.tokens.sessionExpiresAt())
      audit(request, 'refresh_reuse_detected', { userId: claims.sub })
      throw new TokenRevoked()
    }
    const rotated = fastify.tokens.rotate(subject, claims, issuedMs)
    fastify.tokenCookies?.set(reply, rotated)
    return tokensInBody ? rotated : cookieSession('Token refreshed.')
  })

}

export default sessions
