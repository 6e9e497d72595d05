import fp from 'fastify-plugin'
import { REQUEST_ID_HEADER } from '../../src/http'

// Every answer names its request id, so a client's report can be matched with our log lines.
export default fp(async function requestId (fastify) {
  // Synchronous: it runs on every request, and an async hook costs a promise each time.
  fastify.addHook('onRequest', function echoRequestId (request, reply, done) {
    void reply.header(REQUEST_ID_HEADER, request.id)
    done()
  })
}, { name: 'gatehouse-request-id', fastify: '5.x' })
