import type { FastifyRequest } from 'fastify'

export type AuditEvent =
  | 'login_succeeded' | 'login_failed' | 'login_throttled' | 'logout' | 'refresh_reuse_detected'
  | 'sessions_revoked' | 'password_changed' | 'user_deleted'

/**
 * One structured log line per security event, with who, from where, and the request id (the
 * request logger adds `reqId`), and its count in the metrics. Never a password or a token:
 * callers pass ids only.
 */
export function audit (request: FastifyRequest, event: AuditEvent, fields: { userId?: number | string, username?: string } = {}): void {
  request.server.metrics.securityEvent(event)
  request.log.info({
    audit: true,
    event,
    user_id: fields.userId === undefined ? undefined : String(fields.userId),
    username: fields.username,
    client: request.ip
  }, `audit: ${event}`)
}
