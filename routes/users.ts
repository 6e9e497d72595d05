import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { Forbidden, InvalidCredentials, NotFound, TokenRevoked } from '../src/errors'
import { passwordHasher, type HashingOptions } from '../src/passwords'
import { nowSeconds } from '../src/revocation-store'
import { Credentials, DatabaseText, ErrorResponse, Message, User, UserId, UserIdParam } from '../src/schemas'
import type { TokenClaims } from '../src/token-claims'

export interface UsersRoutesOptions {
  adminUsernames: ReadonlySet<string>
  passwordHashing: HashingOptions
}

const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse }

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

const users: FastifyPluginAsyncTypebox<UsersRoutesOptions> = async function (fastify, { adminUsernames, passwordHashing }) {
  const passwords = await passwordHasher(passwordHashing)

  /** The caller's claims, when they may act on account `id`: their own, or any as an admin. */
  function ownerOrAdmin (claims: TokenClaims | null, id: number): void {
    if (claims?.sub !== String(id) && claims?.is_admin !== true) throw new Forbidden()
  }

  fastify.post('/register', {
    schema: { body: Credentials, response: { 201: Type.Object({ message: Type.String(), id: UserId }), ...Errors } }
  }, async function register (request, reply) {
    const { username, password } = request.body
    const id = await fastify.users.create(username, await passwords.hash(password))
    return await reply.code(201).send({ message: 'User created successfully.', id })
  })

  fastify.post('/login', {
    schema: { body: LoginBody, response: { 200: TokenPair, ...Errors } }
  }, async function login (request) {
    const { username, password } = request.body
    const user = await fastify.users.findByUsername(username)
    if (!await passwords.verify(user?.password_hash, password) || user === undefined) throw new InvalidCredentials()
    return fastify.tokens.issuePair({ id: user.id, isAdmin: adminUsernames.has(user.username) })
  })

  fastify.post('/logout', {
    onRequest: fastify.requireAccess,
    schema: { response: { 200: Message, ...Errors } }
  }, async function logout (request) {
    const claims = request.user!
    await fastify.revocation.revokeToken(claims.sub, claims.jti, claims.exp)
    await fastify.revocation.revokeSession(claims.sub, claims.sid ?? claims.jti, fastify.tokens.sessionExpiresAt())
    return { message: 'Successfully logged out.' }
  })

  fastify.post('/refresh', {
    onRequest: fastify.requireRefresh,
    schema: { response: { 200: Type.Object({ access_token: Type.String() }), ...Errors } }
  }, async function refresh (request) {
    const claims = request.user!
    // Admin rights are read again from the account, so a change of ADMIN_USERNAMES reaches refreshed tokens.
    const user = await fastify.users.findById(Number(claims.sub))
    if (user === undefined) throw new TokenRevoked()
    return { access_token: fastify.tokens.issueAccess({ id: user.id, isAdmin: adminUsernames.has(user.username) }, claims) }
  })

  const UserParams = Type.Object({ id: UserIdParam })

  fastify.get('/user/:id', {
    onRequest: fastify.requireAccess,
    schema: { params: UserParams, response: { 200: User, ...Errors } }
  }, async function getUser (request) {
    const id = Number(request.params.id)
    ownerOrAdmin(request.user, id)
    const user = await fastify.users.findById(id)
    if (user === undefined) throw new NotFound('User not found.')
    return { id: user.id, username: user.username, is_admin: adminUsernames.has(user.username) }
  })

  fastify.delete('/user/:id', {
    onRequest: fastify.requireFresh,
    schema: { params: UserParams, response: { 200: Message, ...Errors } }
  }, async function deleteUser (request) {
    const id = Number(request.params.id)
    ownerOrAdmin(request.user, id)
    if (await fastify.users.findById(id) === undefined) throw new NotFound('User not found.')
    // Revoke first: if the store is down the request fails before anything is deleted.
    await fastify.revocation.revokeUser(String(id), nowSeconds(), fastify.tokens.sessionExpiresAt())
    await fastify.users.delete(id)
    return { message: 'User deleted.' }
  })
}

export default users
