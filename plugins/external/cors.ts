import cors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface CorsOptions {
  /** CORS_ORIGINS: the browser origins (scheme://host[:port]) allowed to call the API; none by default. */
  origins: string[]
}

/**
 * @fastify/cors for the origins CORS_ORIGINS lists: they get Access-Control-Allow-Origin with their
 * own origin and Allow-Credentials (cookies), preflights answered; any other origin gets no CORS
 * header at all, so its pages cannot read an answer. Nothing is registered when the list is empty.
 */
export default fp(async function corsForListedOrigins (fastify: FastifyInstance, { origins }: CorsOptions) {
  if (origins.length === 0) return
  const allowed = new Set(origins)
  const options: FastifyCorsOptions = {
    // false for any other origin: no CORS header at all, not even Allow-Credentials (a plain list
    // would still send that one to everyone).
    origin: (origin, done) => { done(null, origin !== undefined && allowed.has(origin)) },
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-csrf-token'],
    // What a client needs to read of an answer beside the body: why it must wait, the scheme asked
    // for, and the id to quote in a report.
    exposedHeaders: ['retry-after', 'www-authenticate', 'x-request-id'],
    maxAge: 600
  }
  await fastify.register(cors, options)
}, { name: 'gatehouse-cors', fastify: '5.x' })
