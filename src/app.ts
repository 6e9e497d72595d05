import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyReply, type FastifyServerOptions } from 'fastify'
import auth from '../plugins/auth'
import database from '../plugins/database'
import docs from '../plugins/docs'
import draining from '../plugins/draining'
import errors from '../plugins/errors'
import itemsRepository from '../plugins/items-repository'
import loginThrottle from '../plugins/login-throttle'
import metrics from '../plugins/metrics'
import redis from '../plugins/redis'
import requestId from '../plugins/request-id'
import securityHeaders from '../plugins/security-headers'
import revocation from '../plugins/revocation'
import tokenCookies from '../plugins/token-cookies'
import tokens from '../plugins/tokens'
import usersRepository from '../plugins/users-repository'
import authVerify from '../routes/auth-verify'
import health from '../routes/health'
import items from '../routes/items'
import jwks from '../routes/jwks'
import users from '../routes/users'
import type { AppConfig } from './config'
import { requestIdGenerator } from './request-id'
import { trustedPeer } from './trusted-proxies'

export type AppOptions = Pick<FastifyServerOptions, 'logger'>

// Above the idle timeout of kept-alive connections at the proxy (nginx's upstream
// keepalive_timeout, 60 s in deploy/nginx.conf): the proxy, not Node, closes an idle connection,
// so the proxy never sends a request on a connection Node is closing at that moment.
export const KEEP_ALIVE_TIMEOUT_MS = 65_000

/**
 * Builds the whole service from a config; production and tests alike. It resolves once every store
 * answers: a service that starts is a service that works.
 */
export async function buildApp (config: AppConfig, options: AppOptions = {}) {
  const app = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // A request that arrives on a kept-alive connection while the listener closes is served (with
    // Connection: close), not answered with Fastify's bare 503: the stores close only after it, and
    // a proxy passes a 503 on to its client where it would retry a refused connection.
    return503OnClosing: false,
    // X-Forwarded-For is believed from these peers only: request.ip, and the logged address, is
    // the client's behind them and the socket's own address for anyone else.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    requestIdHeader: false,
    genReqId: requestIdGenerator(trustedPeer(config.trustProxy)),
    // No type coercion: `{"price": null}` or `{"price": "12"}` is a client mistake, not 0 or 12.
    ajv: { customOptions: { coerceTypes: false } },
    // Long path parameters reach the schema, which answers 400 naming the field.
    routerOptions: { maxParamLength: 2048 },
    // The router's own errors (a bad percent-encoding…) answer in our error format too.
    frameworkErrors: function routerError (error, _request, reply: FastifyReply) {
      const statusCode = error.statusCode ?? 400
      void reply.code(statusCode).send({ statusCode, error: 'bad_request', message: error.message })
    }
  }).withTypeProvider<TypeBoxTypeProvider>()

  // A client may send `Content-Type: application/json` and no body to a route that takes none.
  // Only JSON bodies: a text/plain body is refused with 415 rather than read as a string.
  app.removeContentTypeParser('text/plain')
  app.removeContentTypeParser('application/json')
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJsonOrEmpty (request, body, done) {
    if (body === '') { done(null, undefined); return }
    parseJson(request, body as string, done)
  })

  try {
    // First: every route added after it is timed, and every error leaving is counted.
    await app.register(metrics, config.metrics)
    await app.register(requestId)
    await app.register(errors)
    await app.register(draining)
    await app.register(securityHeaders)
    // Before the routes, so it documents each one; Swagger UI sets its own CSP on its pages.
    if (config.docsEnabled) await app.register(docs)
    await app.register(database, { config })
    if (config.redis !== undefined) await app.register(redis, config.redis)
    await app.register(revocation, { redisKeyPrefix: config.redis?.keyPrefix ?? '' })
    await app.register(usersRepository)
    await app.register(itemsRepository)
    await app.register(tokens, {
      signing: config.signing,
      accessTokenExpires: config.accessTokenExpires,
      refreshTokenExpires: config.refreshTokenExpires,
      verifyCacheSize: config.verifyCacheSize,
      csrfClaims: config.tokenLocation.cookies && config.cookies.csrfProtect
    })
    await app.register(tokenCookies, {
      enabled: config.tokenLocation.cookies,
      ...config.cookies,
      accessTokenExpires: config.accessTokenExpires,
      refreshTokenExpires: config.refreshTokenExpires
    })
    await app.register(loginThrottle, config.loginThrottle)
    await app.register(auth, { adminUsernames: config.adminUsernames, headers: config.tokenLocation.headers })

    await app.register(health)
    await app.register(users, {
      adminUsernames: config.adminUsernames,
      passwordHashing: config.passwordHashing,
      refreshRotation: config.refreshRotation
    })
    await app.register(items, { anonymousPageCacheMs: config.itemsPageCacheMs })
    await app.register(authVerify)
    await app.register(jwks, { maxAgeSeconds: config.jwt.jwksMaxAgeSeconds })

    await app.ready()
  } catch (error) {
    // Whatever did open (the database, say) is closed again before the failure is reported.
    await app.close().catch(() => {})
    throw error
  }
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
