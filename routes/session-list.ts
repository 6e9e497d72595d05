import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { StoredSession } from '../plugins/app/sessions-repository'
import { DatabaseText, Message, NotFound, TokenRevoked, TokenRouteErrors as Errors, UserIdParam } from '../src/http'
import { accountIdOf } from '../src/sessions'

const Time = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' })

const Session = Type.Object({
  id: Type.String({ description: 'The session id, the `sid` claim of its tokens' }),
  created_at: Time,
  last_used_at: Time,
  expires_at: Time,
  user_agent: Type.Union([Type.String(), Type.Null()], { description: 'The first 256 characters of the User-Agent of its last login or refresh' }),
  address: Type.String({ description: 'The client address of its last login or refresh' }),
  current: Type.Boolean({ description: 'The session of the token presented' })
})

const SessionList = Type.Object({ sessions: Type.Array(Session) })

// A session id as tokens carry it: the `sid` claim is at most 255 characters.
const SessionId = DatabaseText({ minLength: 1, maxLength: 255 })

const iso = (ms: number): string => new Date(ms).toISOString()

/** Sessions: the caller's own (/sessions), and any user's for an admin (/user/:id/sessions). */
const sessionList: FastifyPluginAsyncTypebox = async function (fastify) {
  function view (request: FastifyRequest, sessions: StoredSession[]) {
    const current = request.user!.sid ?? request.user!.jti
    return {
      sessions: sessions.map((session) => ({
        id: session.id,
        created_at: iso(session.created_at),
        last_used_at: iso(session.last_used_at),
        expires_at: iso(session.expires_at),
        user_agent: session.user_agent,
        address: session.address,
        current: session.user_id === accountIdOf(request.user!) && session.id === current
      }))
    }
  }

  async function endOne (request: FastifyRequest, reply: FastifyReply, userId: number, id: string) {
    // Not found and not the user's are one answer: the id of another user's session is never confirmed.
    const session = await fastify.sessions.find(userId, id)
    if (session === undefined) throw new NotFound('Session not found.')
    await fastify.loginSessions.end(request, userId, id, request.user!.sub === String(userId) ? 'user' : 'admin')
    const claims = request.user!
    if (claims.sub === String(userId) && (claims.sid ?? claims.jti) === id) fastify.tokenCookies?.clear(reply)
    return { message: 'Session ended.' }
  }

  fastify.get('/sessions', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['sessions'],
      summary: 'Your live sessions, newest first',
      response: { 200: SessionList, ...Errors }
    }
  }, async function listSessions (request) {
    const userId = accountIdOf(request.user!)
    if (userId === undefined) throw new TokenRevoked()
    return view(request, await fastify.sessions.list(userId))
  })

  fastify.delete('/sessions/:id', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['sessions'],
      summary: 'End one of your sessions: its tokens stop working on every instance',
      params: Type.Object({ id: SessionId }),
      response: { 200: Message, ...Errors }
    }
  }, async function endSession (request, reply) {
    const userId = accountIdOf(request.user!)
    if (userId === undefined) throw new TokenRevoked()
    return await endOne(request, reply, userId, request.params.id)
  })

  fastify.get('/user/:id/sessions', {
    onRequest: fastify.requireAdmin,
    schema: {
      tags: ['sessions'],
      summary: "A user's live sessions, newest first (admin)",
      params: Type.Object({ id: UserIdParam }),
      response: { 200: SessionList, ...Errors }
    }
  }, async function listUserSessions (request) {
    const id = Number(request.params.id)
    if (await fastify.users.findById(id) === undefined) throw new NotFound('User not found.')
    return view(request, await fastify.sessions.list(id))
  })

  fastify.delete('/user/:id/sessions/:sid', {
    onRequest: fastify.requireAdmin,
    schema: {
      tags: ['sessions'],
      summary: "End one of a user's sessions (admin)",
      params: Type.Object({ id: UserIdParam, sid: SessionId }),
      response: { 200: Message, ...Errors }
    }
  }, async function endUserSession (request, reply) {
    return await endOne(request, reply, Number(request.params.id), request.params.sid)
  })
}

export default sessionList
