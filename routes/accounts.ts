import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { StoredUser } from '../plugins/app/users-repository'
import { isAdminAccount, audit, clientGone, NEW_USERNAME_RULE, newAccountUsername } from '../src/accounts'
import { CookieSession, UserExists, Forbidden, InvalidCredentials, NotFound, TokenRevoked, TooManyRegistrations, TooManyRequests, ValidationFailed, Credentials, Message, NO_STORE, Password, TokenPair, TokenRouteErrors as Errors, User, UserId, UserIdParam } from '../src/http'
import { accountIdOf } from '../src/sessions'
import type { TokenClaims } from '../src/tokens'

const UserParams = Type.Object({ id: UserIdParam })

export interface AccountsRoutesOptions {
  /** False with JWT_TOKEN_LOCATION=cookies: the new tokens are set as cookies only, never in a body. */
  tokensInBody: boolean
}

/** Accounts: /register, /user/me, /user/:id (read, delete) and /user/:id/password. */
const accounts: FastifyPluginAsyncTypebox<AccountsRoutesOptions> = async function (fastify, { tokensInBody }) {
  const { passwords } = fastify
  const isAdmin = (user: StoredUser): boolean => isAdminAccount(user)

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
    // An account made before the PRECIS rule may hold this name in its older spelling (`straße`).
    if (await fastify.users.findByLoginName(request.body.username) !== undefined) throw new UserExists(username)
    const { attempt, retryAfter } = await fastify.registrationThrottle.reserve(request.ip)
    if (attempt === undefined) {
      void reply.header('retry-after', String(retryAfter))
      throw new TooManyRegistrations()
    }
    let passwordHash: string
    try {
      passwordHash = await passwords.hash(request.body.password, clientGone(request))
    } catch (error) {
      await attempt.settle('abandoned').catch(() => {})
      throw error
    }
    await attempt.settle('succeeded')
    const id = await fastify.users.create(username, passwordHash)
    audit(request, 'user_registered', { userId: id, username })
    return await reply.code(201).send({ message: 'User created successfully.', id })
  })

  fastify.get('/user/me', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['accounts'],
      summary: 'Your own account',
      response: { 200: User, ...Errors }
    }
  }, async function getMe (request) {
    const id = accountIdOf(request.user!)
    const user = id === undefined ? undefined : await fastify.users.findById(id)
    // Its tokens are revoked with the account; one that raced the deletion finds nothing here.
    if (user === undefined) throw new TokenRevoked()
    return { id: user.id, username: user.username, is_admin: isAdmin(user) }
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
    // First the credential, so logins that verified it issue nothing, then the tokens (dated
    // before the cut-off written here), then the account. If the store is down nothing is deleted.
    await fastify.users.endCredential(id)
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
      response: { 200: tokensInBody ? Type.Composite([Message, TokenPair]) : CookieSession, ...Errors }
    }
  }, async function changePassword (request, reply) {
    const claims = request.user!
    const id = Number(request.params.id)
    if (claims.sub !== String(id)) throw new Forbidden()
    const user = await fastify.users.findById(id)
    if (user === undefined) throw new TokenRevoked()
    // A stolen fresh token must not become a way to guess the password: attempts count as at login.
    const { attempt, retryAfter } = await fastify.loginThrottle.reserve(user.username, request.ip)
    if (attempt === undefined) {
      void reply.header('retry-after', String(retryAfter))
      throw new TooManyRequests()
    }
    let verified: boolean
    try {
      verified = await passwords.verify(user.password_hash, request.body.old_password, clientGone(request))
    } catch (error) {
      await attempt.settle('abandoned').catch(() => {})
      throw error
    }
    await attempt.settle(verified ? 'succeeded' : 'failed')
    if (!verified) throw new InvalidCredentials()
    // Only over the credential whose old password was checked: of two concurrent changes one wins.
    if (!await fastify.users.changePassword(id, await passwords.hash(request.body.new_password, clientGone(request)), user.credential_version)) {
      throw new InvalidCredentials()
    }
    // Every token issued until now stops, this caller's too; the new pair is issued after the cut-off.
    const cutoff = Date.now()
    await fastify.revocation.revokeUser(claims.sub, cutoff, fastify.tokens.sessionExpiresAt())
    await fastify.sessions.removeUntil(id, cutoff)
    audit(request, 'password_changed', { userId: id })
    const pair = await fastify.loginSessions.open(request, { id, isAdmin: isAdmin(user), credentialVersion: user.credential_version + 1 }, cutoff)
    if (pair === undefined) throw new TokenRevoked()
    void reply.headers(NO_STORE)
    fastify.tokenCookies?.set(reply, pair)
    return tokensInBody ? { message: 'Password changed.', ...pair } : { message: 'Password changed.', expires_in: pair.expires_in }
  })
}

export default accounts
