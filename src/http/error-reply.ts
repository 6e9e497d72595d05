import type { FastifyReply } from 'fastify'
import { wwwAuthenticate } from './errors'

/**
 * Answers an error in the one shape every Gatehouse answer has, `{statusCode, error, message}`,
 * with the headers its status calls for. Gatehouse's error handler and the resource-server plugin's
 * hooks both answer through here, so a client sees the same contract from either.
 */
export function sendError (reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply {
  // A route may have set a serializer of its own (pre-rendered pages) before it failed.
  void reply.type('application/json; charset=utf-8').serializer(JSON.stringify)
  if (statusCode === 401) void reply.header('www-authenticate', wwwAuthenticate(code))
  // Our 503s are passing conditions (a store down, a queue full): tell clients when to come back.
  if (statusCode === 503) void reply.header('retry-after', '1')
  return reply.code(statusCode).send({ statusCode, error: code, message })
}
