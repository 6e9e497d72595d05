import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { StoredUser } from '../plugins/users-repository'
import { isAdminAccount } from '../src/admin-rights'
import { audit } from '../src/audit'
import { Forbidden, InvalidCredentials, NotFound, TokenRevoked, TooManyRequests, ValidationFailed } from '../src/errors'
import { needsRehash, passwordHasher, type HashingOptions } from '../src/passwords'
import { Credentials, DatabaseText, ErrorResponse, Message, Password, User, UserId, UserIdParam } from '../src/schemas'
import type { TokenClaims } from '../src/token-claims'
import { canonicalUsername, NEW_USERNAME_RULE, newAccountUsername } from '../src/username'

export interface UsersRoutesOptions {
  adminUsernames: ReadonlySet<string>
  passwordHashing: HashingOptions
  /** /refresh answers a new refresh token and spends the presented one. */
  refreshRotation: boolean
}

const Errors = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse
}

// Login takes any stored username and password; the length rules are for new accounts.
const LoginBody = Type.Object({
  username: DatabaseText({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 })
})

const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer()
})

const UserParams = Type.Object({ id: UserIdParam })

// Token responses must not be stored by any cache (RFC 6749 §5.1).
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

const users: FastifyPluginAsyncTypebox<UsersRoutesOptions> = async function (fastify, { adminUsernames, passwordHashing, refreshRotation }) {
  const passwords = await passwordHasher(passwordHashing)
  const isAdmin = (user: StoredUser): boolean => isAdminAccount(user, adminUsernames)

  /** The caller may act on account `id`: their own, or any as an admin (checked against the account now). */
  async function ownerOrAdmin (claims: TokenClaims, id: number): Promise<void> {
    if (claims.sub !== String(id) && !await fastify.isAdminNow(claims)) throw new Forbidden()
  }

  fastify.post('/register', {
    schema: {
      tags: ['accounts'],
      summary: 'Create an account',
      body: Credentials, response: { 201: Type.Object({ message: Type.String(), id: UserId }), ...Errors }
    }
  }, async function register (request, reply) {
    const username = newAccountUsername(request.body.username)
    if (username === undefined) throw new ValidationFailed(`body/username ${NEW_USERNAME_RULE}`)
    const id = await fastify.users.create(username, await passwords.hash(request.body.password))
    return await reply.code(201).send({ message: 'User created successfully.', id })
  })

  fastify.post('/login', {
    schema: {
      tags: ['sessions'],
      summary: 'Log in with a password: a fresh access token and a refresh token',
      body: LoginBody, response: { 200: TokenPair, ...Errors }
    }
  }, async function login (request, reply) {
    const username = canonicalUsername(request.body.username)
    const { password } = request.body
    const wait = await fastify.loginThrottle.retryAfter(username, request.ip)
    if (wait > 0) {
      audit(request, 'login_throttled')
      void reply.header('retry-after', String(wait))
      throw new TooManyRequests()
    }
    const user = await fastify.users.findByUsername(username)
    if (!await passwords.verify(user?.password_hash, password) || user === undefined) {
      await fastify.loginThrottle.recordFailure(username, request.ip)
      audit(request, 'login_failed', { userId: user?.id })
      throw new InvalidCredentials()
    }
    await fastify.loginThrottle.recordSuccess(username)
    if (needsRehash(user.password_hash)) await fastify.users.setPasswordHash(user.id, await passwords.hash(password))
    audit(request, 'login_succeeded', { userId: user.id })
    void reply.headers(NO_STORE)
    const pair = fastify.tokens.issuePair({ id: user.id, isAdmin: isAdmin(user) })
    fastify.tokenCookies?.set(reply, pair)
    return pair
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
      response: { 200: Type.Object({ access_token: Type.String(), refresh_token: Type.Optional(Type.String()) }), ...Errors }
    }
  }, async function refresh (request, reply) {
    const claims = request.user!
    // Admin rights are read again from the account, so a change of them (is_admin, ADMIN_USERNAMES) reaches refreshed tokens.
    const user = await fastify.users.findById(Number(claims.sub))
    if (user === undefined) throw new TokenRevoked()
    const subject = { id: user.id, isAdmin: isAdmin(user) }
    void reply.headers(NO_STORE)
    if (!refreshRotation) {
      const access = { access_token: fastify.tokens.issueAccess(subject, claims) }
      fastify.tokenCookies?.set(reply, access)
      return access
    }
    if (!await fastify.revocation.spendRefreshToken(claims.sub, claims.jti, claims.exp)) {
      // A spent refresh token presented again was copied: whoever holds the session now, it ends.
      await fastify.revocation.revokeSession(claims.sub, claims.sid ?? claims.jti, fastify.tokens.sessionExpiresAt())
      audit(request, 'refresh_reuse_detected', { userId: claims.sub })
      throw new TokenRevoked()
    }
    const rotated = fastify.tokens.rotate(subject, claims)
    fastify.tokenCookies?.set(reply, rotated)
    return rotated
  })

  fastify.get('/user/:id', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['accounts'],
      summary: 'Read an account: your own, or any as an admin',
      params: UserParams, response: { 200: User, ...Errors }
    }
  }, async function getUser (request) {
    const id = Number(request.params.id)
    await ownerOrAdmin(request.user!, id)
    const user = await fastify.users.findById(id)
    if (user === undefined) throw new NotFound('User not found.')
    return { id: user.id, username: user.username, is_admin: isAdmin(user) }
  })

  fastify.delete('/user/:id', {
    onRequest: fastify.requireFresh,
    schema: {
      tags: ['accounts'],
      summary: 'Delete an account, your own or any as an admin; its tokens stop working',
      params: UserParams, response: { 200: Message, ...Errors }
    }
  }, async function deleteUser (request, reply) {
    const id = Number(request.params.id)
    await ownerOrAdmin(request.user!, id)
    if (await fastify.users.findById(id) === undefined) throw new NotFound('User not found.')
    // Revoke first: if the store is down the request fails before anything is deleted.
    await fastify.revocation.revokeUser(String(id), Date.now(), fastify.tokens.sessionExpiresAt())
    await fastify.users.delete(id)
    if (request.user!.sub === String(id)) fastify.tokenCookies?.clear(reply)
    audit(request, 'user_deleted', { userId: id })
    return { message: 'User deleted.' }
  })

  fastify.put('/user/:id/password', {
    onRequest: fastify.requireFresh,
    schema: {
      tags: ['accounts'],
      summary: 'Change your password: every other session ends, a new token pair is returned',
      params: UserParams,
      body: Type.Object({ old_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Password }),
      response: { 200: Type.Composite([Message, TokenPair]), ...Errors }
    }
  }, async function changePassword (request, reply) {
    const claims = request.user!
    const id = Number(request.params.id)
    if (claims.sub !== String(id)) throw new Forbidden()
    const user = await fastify.users.findById(id)
    if (user === undefined) throw new TokenRevoked()
    // A stolen fresh token must not become a way to guess the password: failures count as at login.
    const wait = await fastify.loginThrottle.retryAfter(user.username, request.ip)
    if (wait > 0) {
      void reply.header('retry-after', String(wait))
      throw new TooManyRequests()
    }
    if (!await passwords.verify(user.password_hash, request.body.old_password)) {
      await fastify.loginThrottle.recordFailure(user.username, request.ip)
      throw new InvalidCredentials()
    }
    await fastify.users.setPasswordHash(id, await passwords.hash(request.body.new_password))
    // Every token issued until now stops, this caller's too; the new pair is issued after the cut-off.
    const cutoff = Date.now()
    await fastify.revocation.revokeUser(claims.sub, cutoff, fastify.tokens.sessionExpiresAt())
    audit(request, 'password_changed', { userId: id })
    void reply.headers(NO_STORE)
    const pair = fastify.tokens.issuePair({ id, isAdmin: isAdmin(user) }, cutoff)
    fastify.tokenCookies?.set(reply, pair)
    return { message: 'Password changed.', ...pair }
  })
}

export default users
