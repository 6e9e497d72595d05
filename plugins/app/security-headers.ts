import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'

// The headers OWASP's REST Security cheat sheet asks of a JSON API: nothing here is meant to render,
// frame or load anything. One frozen object, set in one synchronous hook: @fastify/helmet built
// the same headers per request through its middleware chain, which measured here cost a third of
// the anonymous /items rate (0.71 → 0.44 of a bare Fastify route).
const SECURITY_HEADERS = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin'
})

// Only over HTTPS (RFC 6797 §7.2: a browser ignores it over HTTP, and it would say the wrong thing):
// a TLS socket of its own, or a trusted proxy's X-Forwarded-Proto (request.protocol believes it
// only from a peer TRUST_PROXY names).
const HSTS = 'max-age=31536000; includeSubDomains'

export default fp(async function securityHeaders (fastify) {
  fastify.addHook('onRequest', function addSecurityHeaders (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    void reply.headers(SECURITY_HEADERS)
    if (request.protocol === 'https') void reply.header('strict-transport-security', HSTS)
    done()
  })
}, { name: 'gatehouse-security-headers', fastify: '5.x' })
