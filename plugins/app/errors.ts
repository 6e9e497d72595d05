import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { isDatabaseUnavailable } from '../../src/db'
import { appErrorCode, DatabaseUnavailable, sendError } from '../../src/http'

// Fastify's own client errors, given stable snake_case codes like ours.
const frameworkCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json'
}

function clientErrorCode (error: FastifyError): string {
  if (error.validation !== undefined) return 'validation_error'
  if (error.code in frameworkCodes) return frameworkCodes[error.code]
  if (error instanceof SyntaxError) return 'invalid_json'
  return 'bad_request'
}

/**
 * Every error leaves as `{statusCode, error, message}`. Our own errors keep their code and message;
 * framework client errors get a code; a database out of reach is a 503 database_unavailable, which
 * clears by itself; anything else is a 500 whose message says nothing internal.
 */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(function handleError (thrown: FastifyError, request, reply) {
    let error = thrown
    if (isDatabaseUnavailable(thrown)) {
      request.log.warn({ err: thrown }, 'database unavailable')
      error = new DatabaseUnavailable()
    }
    const statusCode = error.statusCode ?? 500
    const isClientError = statusCode >= 400 && statusCode < 500
    const code = appErrorCode(error) ?? (isClientError ? clientErrorCode(error) : undefined)
    if (code === undefined) {
      request.log.error({ err: error }, 'unhandled error')
      return reply.code(500).send({ statusCode: 500, error: 'internal_error', message: 'Internal Server Error' })
    }
    fastify.metrics.errorAnswered(statusCode, code)
    return sendError(reply, statusCode, code, error.message)
  })

  fastify.setNotFoundHandler(function notFound (request, reply) {
    fastify.metrics.notFound(request, reply.code(404))
    return reply.send({
      statusCode: 404, error: 'not_found', message: `Route ${request.method} ${request.url.split('?')[0]} not found.`
    })
  })
}, { name: 'gatehouse-errors', fastify: '5.x', dependencies: ['gatehouse-metrics'] })
