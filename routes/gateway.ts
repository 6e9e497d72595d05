import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { AdminRequired, FreshTokenNeeded, ErrorResponse } from '../src/http'
import { isFresh } from '../src/tokens'

const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 503: ErrorResponse }

/**
 * nginx's auth_request asks here whether a request may pass: 204 with who the caller is, for nginx
 * to hand upstream (`auth_request_set`), or 401. nginx treats only 2xx, 401 and 403 as answers,
 * so an unmet `fresh` or `admin` requirement is a 403, not the 401 the API routes give. A token
 * from a cookie must come with the CSRF double submit when the guarded request (X-Original-Method)
 * changes state, or when nginx does not say which method it is.
 */
const authVerify: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/auth/verify', {
    onRequest: fastify.requireGatewayAccess,
    schema: {
      tags: ['gateway'],
      summary: 'For nginx auth_request: 204 with the caller id and admin flag, 401 or 403',
      querystring: Type.Object({
        fresh: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('0')])),
        admin: Type.Optional(Type.Union([Type.Literal('1'), Type.Literal('0')]))
      }),
      response: { 204: Type.Null(), ...Errors }
    }
  }, async function verify (request, reply) {
    const claims = request.user!
    if (request.query.fresh === '1' && !isFresh(claims, Date.now())) throw new FreshTokenNeeded()
    const isAdmin = await fastify.isAdminNow(claims)
    if (request.query.admin === '1' && !isAdmin) throw new AdminRequired()
    return await reply.code(204).headers({
      'x-auth-user-id': claims.sub,
      'x-auth-is-admin': isAdmin ? 'true' : 'false',
      'cache-control': 'no-store'
    }).send(null)
  })
}

export default authVerify
