import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { sql } from 'kysely'

const Check = Type.Union([Type.Literal('ok'), Type.Literal('failing')])
const Checks = Type.Object({ database: Check, revocation: Check })
const Ready = Type.Object({ status: Type.Literal('ok'), checks: Checks })
const NotReady = Type.Object({ statusCode: Type.Literal(503), error: Type.Literal('not_ready'), message: Type.String(), checks: Checks })
const ShuttingDown = Type.Object({ statusCode: Type.Literal(503), error: Type.Literal('shutting_down'), message: Type.String() })

async function passes (check: () => Promise<unknown>): Promise<'ok' | 'failing'> {
  try {
    await check()
    return 'ok'
  } catch {
    return 'failing'
  }
}

const health: FastifyPluginAsyncTypebox = async function (fastify) {
  // Probes come every few seconds from every balancer and orchestrator: their request and response
  // lines at info would drown the log. They are logged when the log is at debug or trace; else
  // only their warnings and errors are.
  const logLevel = ['debug', 'trace'].includes(fastify.log.level) ? undefined : 'warn'
  fastify.get('/health/live', {
    logLevel,
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process runs',
      response: { 200: Type.Object({ status: Type.Literal('ok') }) }
    }
  }, async function live () {
    return { status: 'ok' as const }
  })

  fastify.get('/health/ready', {
    logLevel,
    schema: {
      tags: ['health'],
      summary: 'Readiness: the database and the revocation store answer, and the instance is not shutting down',
      response: { 200: Ready, 503: Type.Union([NotReady, ShuttingDown]) }
    }
  }, async function ready (_request, reply) {
    // At once, whatever the stores say: the proxy must stop sending work here before the listener closes.
    if (fastify.draining.active) {
      return await reply.code(503).send({
        statusCode: 503 as const, error: 'shutting_down' as const, message: 'This instance is shutting down.'
      })
    }
    const [database, revocation] = await Promise.all([
      passes(async () => await sql`select 1`.execute(fastify.db)),
      passes(async () => { await fastify.revocation.ping() })
    ])
    const checks = { database, revocation }
    if (database === 'ok' && revocation === 'ok') return { status: 'ok' as const, checks }
    return await reply.code(503).send({
      statusCode: 503 as const, error: 'not_ready' as const, message: 'A store this service needs does not answer.', checks
    })
  })
}

export default health
