import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type HookHandlerDoneFunction, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { sql } from 'kysely'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { AuditEvent } from '../../src/accounts'

export interface MetricsOptions {
  /** Serve GET /metrics; off, the counters still count but nothing is exposed and requests are not timed. */
  enabled: boolean
  /** Serve /metrics on a server of its own (server.ts listens on it), not on the API's port. */
  port?: number
}

// Events that revoke tokens: logout (a session), everywhere, a password change, a deletion, a reused refresh token.
const revokingEvents = new Set<AuditEvent>(['logout', 'sessions_revoked', 'session_revoked', 'password_changed', 'user_deleted', 'refresh_reuse_detected'])

// The route label of requests no route matched: never the raw URL, which would make labels unbounded.
const NOT_FOUND_ROUTE = 'not_found'

// Node's own metrics (event-loop delay, heap, GC, CPU, handles) describe the process, not an app:
// collected once per process however many apps it builds (tests build many).
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

function appMetrics (registry: Registry) {
  const registers = [registry]
  return {
    requestDuration: new Histogram({
      name: 'gatehouse_http_request_duration_seconds',
      help: 'Time to answer a request, by method, route template and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    authFailures: new Counter({
      name: 'gatehouse_auth_failures_total',
      help: 'Requests refused with 401 or 403, by error code',
      labelNames: ['code'] as const,
      registers
    }),
    tokensIssued: new Counter({
      name: 'gatehouse_tokens_issued_total',
      help: 'Tokens signed, by type (access, refresh)',
      labelNames: ['type'] as const,
      registers
    }),
    securityEvents: new Counter({
      name: 'gatehouse_security_events_total',
      help: 'Audit log events, by event',
      labelNames: ['event'] as const,
      registers
    }),
    revocations: new Counter({
      name: 'gatehouse_revocations_total',
      help: 'Revocations (a session, every session of a user, or a user at deletion), by the event that revoked',
      labelNames: ['reason'] as const,
      registers
    }),
    refreshReuse: new Counter({
      name: 'gatehouse_refresh_reuse_detected_total',
      help: 'Spent refresh tokens presented again; each ends its login session',
      registers
    }),
    loginThrottled: new Counter({
      name: 'gatehouse_login_throttled_total',
      help: 'Logins refused with 429 after too many failures',
      registers
    }),
    storeErrors: new Counter({
      name: 'gatehouse_store_errors_total',
      help: 'Requests answered 503 because a store failed: database (database_unavailable) or revocation (revocation_unavailable)',
      labelNames: ['store'] as const,
      registers
    }),
    redisErrors: new Counter({
      name: 'gatehouse_redis_connection_errors_total',
      help: 'Errors reported by the Redis client (connection lost, refused, timed out)',
      registers
    }),
    storeUp: new Gauge({
      name: 'gatehouse_store_up',
      help: 'Whether the store answered a ping at the last scrape (1) or not (0)',
      labelNames: ['store'] as const,
      registers
    }),
    storePing: new Gauge({
      name: 'gatehouse_store_ping_seconds',
      help: 'Round trip of a ping to the store at the last scrape',
      labelNames: ['store'] as const,
      registers
    })
  }
}

type AppMetrics = ReturnType<typeof appMetrics>

export interface Metrics {
  /** The separate /metrics server when METRICS_PORT is set: server.ts listens on it. */
  readonly server: FastifyInstance | undefined
  /** An error answer left through the error handler (plugins/errors.ts). */
  errorAnswered: (statusCode: number, code: string) => void
  /** Times a request no route matched (the not-found handler runs no route hooks), once its status is set. */
  notFound: (request: FastifyRequest, reply: FastifyReply) => void
  tokenIssued: (type: 'access' | 'refresh') => void
  /** An audit event (src/audit.ts): counted, and as a revocation, reuse or throttle where it is one. */
  securityEvent: (event: AuditEvent) => void
  /** The whole exposition: the process's metrics, then the app's. */
  scrape: () => Promise<string>
  readonly contentType: string
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

type Observe = (seconds: number) => void
const noop = (): void => {}

/**
 * The onResponse hook of one route: one histogram observation per request, through children
 * looked up by method and status and created once, so a request allocates no label object.
 */
function timer (duration: AppMetrics['requestDuration'], route: string) {
  const children = new Map<string, Map<number, Observe>>()
  return function observeDuration (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    let byStatus = children.get(request.method)
    if (byStatus === undefined) {
      byStatus = new Map()
      children.set(request.method, byStatus)
    }
    let observe = byStatus.get(reply.statusCode)
    if (observe === undefined) {
      observe = duration.labels(request.method, route, String(reply.statusCode)).observe
      byStatus.set(reply.statusCode, observe)
    }
    observe(reply.elapsedTime / 1000)
    done()
  }
}

function withHook<T> (existing: T | T[] | undefined, hook: T): T[] {
  if (existing === undefined) return [hook]
  return Array.isArray(existing) ? [...existing, hook] : [existing, hook]
}

/**
 * Prometheus metrics: request durations by route template and status, auth failures by code,
 * tokens issued, security events, store errors and pings, and the process's own metrics.
 * Registered first, so that every route added after it gets its timing hook.
 */
export default fp<MetricsOptions>(async function metrics (fastify, { enabled, port }) {
  const registry = new Registry()
  const counters = appMetrics(registry)

  // At scrape time, not per request: the stores' round trips, as /health/ready checks them.
  async function pingStores (): Promise<void> {
    const stores: Array<[string, () => Promise<unknown>]> = [
      ['database', async () => await sql`select 1`.execute(fastify.db)],
      ['revocation', async () => { await fastify.revocation.ping() }]
    ]
    await Promise.all(stores.map(async ([store, ping]) => {
      const started = performance.now()
      try {
        await ping()
        counters.storePing.labels(store).set((performance.now() - started) / 1000)
        counters.storeUp.labels(store).set(1)
      } catch {
        counters.storeUp.labels(store).set(0)
      }
    }))
  }

  async function scrape (): Promise<string> {
    await pingStores()
    return (await processMetrics().metrics()) + (await registry.metrics())
  }

  const server = enabled && port !== undefined ? Fastify({ logger: false }) : undefined
  const timeNotFound = timer(counters.requestDuration, NOT_FOUND_ROUTE)
  fastify.decorate<Metrics>('metrics', {
    server,
    errorAnswered (statusCode, code) {
      if (statusCode === 401 || statusCode === 403) counters.authFailures.labels(code).inc()
      else if (code === 'database_unavailable') counters.storeErrors.labels('database').inc()
      else if (code === 'revocation_unavailable') counters.storeErrors.labels('revocation').inc()
    },
    notFound (request, reply) {
      if (enabled) timeNotFound(request, reply, noop)
    },
    tokenIssued (type) { counters.tokensIssued.labels(type).inc() },
    securityEvent (event) {
      counters.securityEvents.labels(event).inc()
      if (revokingEvents.has(event)) counters.revocations.labels(event).inc()
      if (event === 'refresh_reuse_detected') counters.refreshReuse.inc()
      if (event === 'login_throttled') counters.loginThrottled.inc()
    },
    scrape,
    contentType: registry.contentType
  })
  if (!enabled) return

  fastify.addHook('onRoute', function timeRoute (route: RouteOptions) {
    route.onResponse = withHook(route.onResponse, timer(counters.requestDuration, route.url))
  })
  fastify.addHook('onReady', async function countRedisErrors () {
    if (fastify.hasDecorator('redis')) fastify.redis.on('error', () => { counters.redisErrors.inc() })
  })
  // REVOCATION_MODE=mirror only: whether checks are answered from memory or, the feed lost, from Redis.
  fastify.addHook('onReady', async function watchMirror () {
    const mirror = fastify.revocation.mirror
    if (mirror === undefined) return
    registry.registerMetric(new Gauge({
      name: 'gatehouse_revocation_mirror_live',
      help: 'Whether revocation checks are answered from the in-memory mirror (1) or, its feed lost, from Redis (0)',
      registers: [],
      collect () { this.set(mirror.live() ? 1 : 0) }
    }))
    registry.registerMetric(new Gauge({
      name: 'gatehouse_revocation_mirror_entries',
      help: 'Revocations held by the in-memory mirror',
      registers: [],
      collect () { this.set(mirror.size()) }
    }))
  })

  const metricsRoute = {
    schema: { hide: true },
    handler: async function serveMetrics (_request: FastifyRequest, reply: FastifyReply) {
      return await reply.type(registry.contentType).send(await scrape())
    }
  }
  if (server === undefined) {
    fastify.get('/metrics', metricsRoute)
  } else {
    server.get('/metrics', metricsRoute)
    fastify.addHook('onClose', async () => { await server.close() })
  }
}, { name: 'gatehouse-metrics', fastify: '5.x' })
