import type { FastifyBaseLogger, FastifyRequest } from 'fastify'

export type AuditEvent =
  | 'user_registered' | 'login_succeeded' | 'login_failed' | 'login_throttled' | 'logout' | 'refresh_reuse_detected'
  | 'sessions_revoked' | 'password_changed' | 'user_deleted'
  // One session ended by DELETE /sessions/:id (its user or an admin) or by the session cap.
  | 'session_revoked' | 'fresh_login_succeeded' | 'fresh_login_failed'
  // Only the admin CLI makes accounts with the admin flag and changes the flag.
  | 'user_created' | 'admin_flag_set' | 'admin_flag_cleared'
  // `gatehouse user import`: an account brought over from a Flask app, with its id.
  | 'user_imported'

interface AuditFields {
  userId?: number | string
  username?: string
  /** The session acted on (its id is no credential: it only names the session). */
  sessionId?: string
  /** Who acted, where not the user themselves (an admin). */
  actorId?: number | string
  reason?: string
}

function auditRecord (event: AuditEvent, fields: AuditFields) {
  return {
    audit: true,
    event,
    user_id: fields.userId === undefined ? undefined : String(fields.userId),
    username: fields.username,
    session_id: fields.sessionId,
    actor_id: fields.actorId === undefined ? undefined : String(fields.actorId),
    reason: fields.reason
  }
}

/**
 * One structured log line per security event, with who, from where, and the request id (the
 * request logger adds `reqId`), and its count in the metrics. Never a password or a token:
 * callers pass ids only.
 */
export function audit (request: FastifyRequest, event: AuditEvent, fields: AuditFields = {}): void {
  request.server.metrics.securityEvent(event)
  request.log.info({ ...auditRecord(event, fields), client: request.ip }, `audit: ${event}`)
}

/**
 * The same line for an action of the admin CLI: no client address but `via: 'cli'` and the
 * operating-system account that ran it (the logger adds the host). A one-shot process has no
 * metrics to count it in.
 */
export function auditCli (log: FastifyBaseLogger, osUser: string, event: AuditEvent, fields: AuditFields = {}): void {
  log.info({ ...auditRecord(event, fields), via: 'cli', os_user: osUser }, `audit: ${event}`)
}
