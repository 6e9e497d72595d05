import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    draining: Draining
  }
}

/**
 * Whether the instance is on its way out (a shutdown signal came). Requests are still served, but
 * /health/ready answers 503 so the proxy stops sending new work, and every answer carries
 * `Connection: close`, so kept-alive connections move to other instances before the listener closes.
 */
export interface Draining {
  readonly active: boolean
  start: () => void
}

export default fp(async function draining (fastify) {
  let active = false
  fastify.decorate('draining', {
    get active () { return active },
    start () { active = true }
  })
  // Synchronous: it runs on every answer, and an async hook costs a promise each time.
  fastify.addHook('onSend', function closeWhileDraining (_request, reply, payload, done) {
    if (active) void reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'gatehouse-draining', fastify: '5.x' })
