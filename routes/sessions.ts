import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { StoredUser } from '../plugins/app/users-repository'
import { isAdminAccount, audit, clientGone, needsRehash, canonicalUsername } from '../src/accounts'
import { accountIdOf } from '../src/sessions'
import { accountMissing, InvalidCredentials, RefreshPending, TokenRevoked, TooManyRequests, CookieSession, DatabaseText, Message, NO_STORE, TokenPair, TokenRouteErrors as Errors } from '../src/http'

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

const FreshToken = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer()
})

/** Sessions: /login, /login/fresh, /logout, /logout/all and /refresh. */
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
    const pair = await fastify.loginSessions.open(request, { id: user.id, isAdmin: isAdmin(user), credentialVersion: user.credential_version }, 0, issuedMs)
    // Deleted between the password check and the session's row.
    if (pair === undefined) throw new InvalidCredentials()
    void reply.headers(NO_STORE)
    fastify.tokenCookies?.set(reply, pair)
    return tokensInBody ? pair : cookieSession('Logged in.')
  })

  fastify.post('/login/fresh', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['sessions'],
      summary: 'Enter the password again: a fresh access token in the same session',
      body: Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: tokensInBody ? FreshToken : CookieSession, ...Errors }
    }
  }, async function freshLogin (request, reply) {
    const claims = request.user!
    const id = accountIdOf(claims)
    const user = id === undefined ? undefined : await fastify.users.findById(id)
    if (user === undefined) throw new TokenRevoked()
    // Counted before the hash, as at /login: a stolen access token is no way around the throttle.
    const { attempt, retryAfter } = await fastify.loginThrottle.reserve(user.username, request.ip)
    if (attempt === undefined) {
      audit(request, 'login_throttled', { userId: user.id })
      void reply.header('retry-after', String(retryAfter))
      throw new TooManyRequests()
    }
    let verified: boolean
    try {
      verified = await passwords.verify(user.password_hash, request.body.password, clientGone(request))
    } catch (error) {
      await attempt.settle('abandoned').catch(() => {})
      throw error
    }
    await attempt.settle(verified ? 'succeeded' : 'failed')
    if (!verified) {
      audit(request, 'fresh_login_failed', { userId: user.id })
      throw new InvalidCredentials()
    }
    const sid = claims.sid ?? claims.jti
    const access = fastify.tokens.issueFresh({ id: user.id, isAdmin: isAdmin(user), credentialVersion: user.credential_version }, sid)
    // Checked again after the token is signed: a password change or an end of the session that
    // landed while the password was being checked either shows here, or revokes this token too
    // (its cut-off comes after it).
    const now = await fastify.users.findById(user.id)
    if (now === undefined || now.credential_version !== user.credential_version) throw new InvalidCredentials()
    if (await fastify.revocation.isRevoked(claims)) throw new TokenRevoked()
    await fastify.sessions.touch(user.id, sid, Date.now())
    audit(request, 'fresh_login_succeeded', { userId: user.id, sessionId: sid })
    void reply.headers(NO_STORE)
    fastify.tokenCookies?.set(reply, { access_token: access })
    return tokensInBody ? { access_token: access, token_type: 'Bearer' as const, expires_in: fastify.tokens.accessTokenExpires } : cookieSession('Fresh login.')
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
    const userId = accountIdOf(claims)
    if (userId !== undefined) await fastify.sessions.remove(userId, claims.sid ?? claims.jti)
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
    const cutoff = Date.now()
    await fastify.revocation.revokeUser(claims.sub, cutoff, fastify.tokens.sessionExpiresAt())
    const userId = accountIdOf(claims)
    if (userId !== undefined) await fastify.sessions.removeUntil(userId, cutoff)
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
      await fastify.loginSessions.refreshed(request, claims)
      fastify.tokenCookies?.set(reply, access)
      return tokensInBody ? access : cookieSession('Token refreshed.')
    }
    const spent = await fastify.refreshRetries.spend(claims, request.presentedToken!, () => fastify.tokens.rotate(subject, claims, issuedMs))
    if (spent.outcome === 'reused') {
      // A spent refresh token presented after the reuse interval was copied: whoever holds the session now, it ends.
      const sid = claims.sid ?? claims.jti
      await fastify.revocation.revokeSession(claims.sub, sid, fastify.tokens.sessionExpiresAt())
      await fastify.sessions.remove(user.id, sid)
      audit(request, 'refresh_reuse_detected', { userId: claims.sub, sessionId: sid })
      throw new TokenRevoked()
    }
    if (spent.outcome === 'pending') throw new RefreshPending()
    // A retry within the interval answers the first spend's pair, and leaves the session's row as that spend wrote it.
    if (spent.outcome === 'minted') await fastify.loginSessions.refreshed(request, claims, issuedMs)
    fastify.tokenCookies?.set(reply, spent.answer)
    return tokensInBody ? spent.answer : cookieSession('Token refreshed.')
  })

}

export default sessions
