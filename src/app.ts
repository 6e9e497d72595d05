import AjvCompiler from '@fastify/ajv-compiler'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Server } from 'node:http'
import Fastify, { type FastifyHttpOptions, type FastifyPluginAsync, type FastifyReply, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import auth from '../plugins/app/auth'
import database from '../plugins/app/database'
import draining from '../plugins/app/draining'
import errors from '../plugins/app/errors'
import itemsRepository from '../plugins/app/items-repository'
import loginSessions from '../plugins/app/login-sessions'
import loginThrottle from '../plugins/app/login-throttle'
import metrics from '../plugins/app/metrics'
import passwords from '../plugins/app/passwords'
import refreshRetries from '../plugins/app/refresh-retries'
import requestId from '../plugins/app/request-id'
import revocation from '../plugins/app/revocation'
import securityHeaders from '../plugins/app/security-headers'
import sessionsRepository from '../plugins/app/sessions-repository'
import tokenCookies from '../plugins/app/token-cookies'
import tokens from '../plugins/app/tokens'
import usersRepository from '../plugins/app/users-repository'
import cors from '../plugins/external/cors'
import docs from '../plugins/external/docs'
import redis from '../plugins/external/redis'
import accounts from '../routes/accounts'
import gateway from '../routes/gateway'
import health from '../routes/health'
import items from '../routes/items'
import keys from '../routes/keys'
import sessionList from '../routes/session-list'
import sessions from '../routes/sessions'
import type { AppConfig, Config } from './config'
import { clientErrorHandler, requestIdGenerator, trustedPeer } from './http'
import { loadSigning } from './tokens'

export type AppOptions = Pick<FastifyServerOptions, 'logger'>

export { KEEP_ALIVE_TIMEOUT_MS } from './config'

// Node checks its header and request timeouts on a timer (30 s by default): often enough that a
// timeout is kept to within a second, or a quarter of a short one.
const timeoutCheckInterval = (timeoutMs: number): number => Math.max(25, Math.min(1000, Math.floor(timeoutMs / 4)))

/** The Fastify server options Gatehouse runs with, alone (src/server.ts) or as a host's. */
export function serverOptions (config: Config, options: AppOptions = {}): FastifyHttpOptions<Server> {
  return {
    logger: options.logger ?? { level: config.logLevel },
    keepAliveTimeout: config.http.idleTimeoutMs,
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: timeoutCheckInterval(Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs))
    },
    // Node's own refusals (a malformed request line or header, a timeout, headers too large)
    // answer in our error format too.
    clientErrorHandler,
    // A request that arrives on a kept-alive connection while the listener closes is served (with
    // Connection: close), not answered with Fastify's bare 503: the stores close only after it, and
    // a proxy passes a 503 on to its client where it would retry a refused connection.
    return503OnClosing: false,
    // X-Forwarded-For is believed from these peers only: request.ip, and the logged address, is
    // the client's behind them and the socket's own address for anyone else.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    requestIdHeader: false,
    genReqId: requestIdGenerator(trustedPeer(config.trustProxy)),
    ajv: { customOptions: { coerceTypes: false } },
    // Long path parameters reach the schema, which answers 400 naming the field.
    routerOptions: { maxParamLength: 2048 },
    // The router's own errors (a bad percent-encoding…) answer in our error format too.
    frameworkErrors: function routerError (error, _request, reply: FastifyReply) {
      const statusCode = error.statusCode ?? 400
      void reply.code(statusCode).send({ statusCode, error: 'bad_request', message: error.message })
    }
  }
}

export interface GatehouseOptions {
  /** From loadConfig(env); without `signing`, the keys are read here (HS256 needs JWT_SECRET_KEY). */
  config: Config & { signing?: AppConfig['signing'] }
}

// No type coercion: `{"price": null}` or `{"price": "12"}` is a client mistake, not 0 or 12. Set on
// Gatehouse's own context, so a host whose Ajv coerces does not change what Gatehouse accepts.
const validatorCompiler = AjvCompiler()({}, { customOptions: { coerceTypes: false } })

/**
 * The whole service as a Fastify plugin: mounted alone (buildApp) or inside a host application
 * under a prefix, `host.register(gatehouse, { prefix: '/auth', config: loadConfig(process.env) })`.
 * Its hooks, error handler and decorators stay inside its own context.
 */
export const gatehouse: FastifyPluginAsync<GatehouseOptions> = async function gatehouse (parent, { config: given }) {
  const config: AppConfig = {
    ...given,
    signing: given.signing ?? loadSigning(given.jwt, () => {
      if (given.jwtSecret !== undefined) return given.jwtSecret
      throw new Error('JWT_SECRET_KEY is not set')
    })
  }
  const app = parent.withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)

  // A client may send `Content-Type: application/json` and no body to a route that takes none.
  // Only JSON bodies: a text/plain body is refused with 415 rather than read as a string.
  app.removeContentTypeParser('text/plain')
  app.removeContentTypeParser('application/json')
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJsonOrEmpty (request, body, done) {
    if (body === '') { done(null, undefined); return }
    parseJson(request, body as string, done)
  })

  // First: every route added after it is timed, and every error leaving is counted.
  await app.register(metrics, config.metrics)
  await app.register(requestId)
  await app.register(errors)
  await app.register(draining)
  await app.register(securityHeaders)
  // Before the routes: its preflight route and its hook cover every one of them.
  await app.register(cors, config.cors)
  // Before the routes, so it documents each one; Swagger UI sets its own CSP on its pages.
  if (config.docsEnabled) await app.register(docs)
  await app.register(database, { config })
  if (config.redis !== undefined) await app.register(redis, config.redis)
  await app.register(revocation, { redisKeyPrefix: config.redis?.keyPrefix ?? '', mode: config.revocationMode })
  await app.register(usersRepository)
  await app.register(sessionsRepository)
  await app.register(itemsRepository)
  await app.register(passwords, config.passwordHashing)
  await app.register(tokens, {
    signing: config.signing,
    accessTokenExpires: config.accessTokenExpires,
    refreshTokenExpires: config.refreshTokenExpires,
    verifyCacheSize: config.verifyCacheSize,
    csrfClaims: config.tokenLocation.cookies && config.cookies.csrfProtect,
    encode: config.claims.encode,
    claimRules: config.claims.rules,
    leewayMs: config.claims.leewayMs
  })
  await app.register(tokenCookies, {
    enabled: config.tokenLocation.cookies,
    ...config.cookies,
    accessTokenExpires: config.accessTokenExpires,
    refreshTokenExpires: config.refreshTokenExpires
  })
  await app.register(loginSessions, { maxPerUser: config.sessionsMaxPerUser })
  await app.register(refreshRetries, { intervalSeconds: config.refreshReuseIntervalSeconds, redisKeyPrefix: config.redis?.keyPrefix ?? '' })
  await app.register(loginThrottle, {
    login: config.loginThrottle, registration: config.registrationThrottle, redisKeyPrefix: config.redis?.keyPrefix ?? ''
  })
  await app.register(auth, { headers: config.tokenLocation.headers })

  await app.register(health)
  // Cookies only: no token in a body, where a page script could read it despite HttpOnly.
  const tokensInBody = config.tokenLocation.headers
  await app.register(accounts, { tokensInBody })
  await app.register(sessions, { refreshRotation: config.refreshRotation, tokensInBody })
  await app.register(sessionList)
  await app.register(items, { anonymousPageCacheMs: config.itemsPageCacheMs })
  await app.register(gateway)
  await app.register(keys, { maxAgeSeconds: config.jwt.jwksMaxAgeSeconds })
}

/**
 * Builds the whole service alone, from a config; production and tests alike. It resolves once
 * every store answers: a service that starts is a service that works. Gatehouse's decorators
 * (tokens, draining, metrics…) are the instance's own here.
 */
export async function buildApp (config: AppConfig, options: AppOptions = {}) {
  const app = Fastify(serverOptions(config, options)).withTypeProvider<TypeBoxTypeProvider>()
  try {
    await app.register(fp(gatehouse, { name: 'gatehouse', fastify: '5.x' }), { config })
    await app.ready()
  } catch (error) {
    // Whatever did open (the database, say) is closed again before the failure is reported.
    await app.close().catch(() => {})
    throw error
  }
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
