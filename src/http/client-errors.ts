import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { HeadersTooLarge, MalformedRequest, RequestTimeout } from './errors'

function errorFor (code: unknown): Error & { code: string, statusCode: number } {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new RequestTimeout() as never
  if (code === 'HPE_HEADER_OVERFLOW') return new HeadersTooLarge() as never
  return new MalformedRequest() as never
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before any route runs (obs-fold,
 * Content-Length with Transfer-Encoding, a bare LF, an invalid header byte, headers too large, a
 * request or its headers that did not arrive in time) is answered in the service's error format,
 * and the connection closed. The parser's error carries the raw bytes received (`rawPacket`, which
 * may hold a token or a cookie): only its code is logged.
 */
export function clientErrorHandler (this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const answer = errorFor(error.code)
  this.log.debug({ reason: error.code, status: answer.statusCode }, 'client error')
  // A response already begun on this connection cannot be followed by another (as Node's own handler).
  const current = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && current?.headersSent !== true) {
    const body = JSON.stringify({ statusCode: answer.statusCode, error: answer.code.toLowerCase(), message: answer.message })
    socket.write(`HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n' + body)
  }
  socket.destroy()
}
