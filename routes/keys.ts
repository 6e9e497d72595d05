import { createHash } from 'node:crypto'
import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'

// Only public members: the response schema drops anything else, a private one included.
const Jwk = Type.Object({
  kty: Type.String(),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.Literal('sig'),
  n: Type.Optional(Type.String()),
  e: Type.Optional(Type.String()),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String())
})
const Jwks = Type.Object({ keys: Type.Array(Jwk) })

export interface JwksOptions {
  /** Cache-Control max-age: a new key must be published at least this long before it signs. */
  maxAgeSeconds: number
}

/**
 * The public keys other services verify Gatehouse's tokens with (RFC 7517): each key that signs,
 * will sign, or signed a token still alive. Empty for HS256, whose secret is never published.
 */
const jwks: FastifyPluginAsyncTypebox<JwksOptions> = async function (fastify, { maxAgeSeconds }) {
  const cacheControl = `public, max-age=${maxAgeSeconds}`
  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['keys'],
      summary: 'The JSON Web Key Set of the public keys that verify Gatehouse tokens',
      response: { 200: Jwks, 304: Type.Null() }
    }
  }, async function publishedKeys (request, reply) {
    const keys = fastify.tokens.publishedKeys()
    const etag = `"${createHash('sha256').update(JSON.stringify(keys)).digest('base64url').slice(0, 27)}"`
    // Public data, read by verifiers anywhere: any origin may fetch it; no credentials are involved.
    void reply.headers({ 'cache-control': cacheControl, etag, 'access-control-allow-origin': '*' })
    if (request.headers['if-none-match'] === etag) return await reply.code(304).send(null)
    return { keys }
  })
}

export default jwks
