import fp from 'fastify-plugin'
import { REQUEST_ID_HEADER } from '../src/request-id'

// Every answer names its request id, so a client's report can be matched with our log lines.
export default fp(async function requestId (fastify) {
  fastify.addHook('onRequest', async function echoRequestId (request, reply) {
    void reply.header(REQUEST_ID_HEADER, request.id)
  })
}, { name: 'request-id' })
