import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export const REQUEST_ID_HEADER = 'x-request-id'

// A proxy's id is copied into logs and headers: short, and nothing that could forge a log line.
const ACCEPTED_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/

/**
 * Fastify's genReqId: the X-Request-Id a trusted proxy sent (so the proxy's log and ours share the
 * id), else a new UUID. A direct client's header is ignored: anyone could send one.
 */
export function requestIdGenerator (isTrustedPeer: (address: string | undefined) => boolean): (request: IncomingMessage) => string {
  return function genReqId (request) {
    const offered = request.headers[REQUEST_ID_HEADER]
    if (typeof offered === 'string' && ACCEPTED_ID.test(offered) && isTrustedPeer(request.socket.remoteAddress)) return offered
    return randomUUID()
  }
}
