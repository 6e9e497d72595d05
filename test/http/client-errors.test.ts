import type { AddressInfo } from 'node:net'
import t from 'tap'
import { loadConfig } from '../../src/config'
import { buildTestApp } from '../helpers'
import { rawRequest } from '../helpers/raw-http'

type App = Awaited<ReturnType<typeof buildTestApp>>

async function listening (app: App): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

const LOGIN_BODY = JSON.stringify({ username: 'someone', password: 'correct horse battery' })

t.test("Node's own parse errors answer in the error format", async (t) => {
  const app = await buildTestApp(t)
  const port = await listening(app)
  const cases: Array<[string, string, number, string]> = [
    ['obs-fold (a header continued on the next line)', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n', 400, 'bad_request'],
    ['Content-Length with Transfer-Encoding', 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
    ['a bare LF ending a header', 'GET /health/live HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n', 400, 'bad_request'],
    ['a bare LF ending the request line', 'GET /health/live HTTP/1.1\nHost: x\r\n\r\n', 400, 'bad_request'],
    ['two Content-Length headers that differ', 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, 'bad_request'],
    ['a NUL in a header value', 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n', 400, 'bad_request'],
    ['a space before the colon', 'GET /health/live HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer x\r\n\r\n', 400, 'bad_request'],
    ['a request line that is not HTTP', 'HELLO\r\n\r\n', 400, 'bad_request'],
    ['headers over 16 KiB', `GET /health/live HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20000)}\r\n\r\n`, 431, 'headers_too_large']
  ]
  for (const [what, request, status, error] of cases) {
    const answer = await rawRequest(port, Buffer.from(request, 'latin1'))
    t.equal(answer.status, status, `${what}: ${status}`)
    t.same(answer.json, { statusCode: status, error, message: answer.json?.message }, `${what}: the error format`)
    t.equal(answer.headers['content-type'], 'application/json; charset=utf-8')
    t.equal(answer.headers.connection, 'close', `${what}: the connection is closed`)
  }
  const fine = await rawRequest(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(fine.status, 200, 'the server still answers')
})

t.test('timeouts: a slow body or slow headers are answered 408 and closed', async (t) => {
  const app = await buildTestApp(t, { env: { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '500' } })
  const port = await listening(app)
  t.equal(app.server.requestTimeout, 1000)
  t.equal(app.server.headersTimeout, 500)

  // One byte of a login body every 200 ms: the whole body would take over 10 s.
  const started = Date.now()
  const head = `POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${LOGIN_BODY.length}\r\n\r\n`
  const slowBody = await rawRequest(port, head, { chunks: [...LOGIN_BODY], gapMs: 200, timeoutMs: 8000 })
  const elapsed = Date.now() - started
  t.equal(slowBody.status, 408, 'a body still arriving after HTTP_REQUEST_TIMEOUT_MS: 408')
  t.same(slowBody.json, { statusCode: 408, error: 'request_timeout', message: 'The request did not arrive in time.' })
  t.equal(slowBody.headers.connection, 'close', 'and the connection is closed')
  t.ok(elapsed >= 900 && elapsed < 3000, `closed after ${elapsed} ms, about HTTP_REQUEST_TIMEOUT_MS`)

  const slowHeaders = await rawRequest(port, 'GET /health/live HTTP/1.1\r\n', { chunks: ['Host: x\r\n', 'X-A: b\r\n', 'X-B: c\r\n', 'X-C: d\r\n', '\r\n'], gapMs: 300, timeoutMs: 8000 })
  t.equal(slowHeaders.status, 408, 'headers still arriving after HTTP_HEADERS_TIMEOUT_MS: 408')
  t.equal(slowHeaders.json?.error, 'request_timeout')
})

t.test('timeout settings: defaults, bounds', async (t) => {
  const defaults = loadConfig({})
  t.same(defaults.http, { headersTimeoutMs: 20000, requestTimeoutMs: 60000, idleTimeoutMs: 65000 })
  t.throws(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '70000' }), /HTTP_HEADERS_TIMEOUT_MS: must not exceed HTTP_REQUEST_TIMEOUT_MS/)
  const app = await buildTestApp(t)
  t.equal(app.server.requestTimeout, 60000, 'a body not arrived 60 s after the request began is cut off by default')
  t.equal(app.server.headersTimeout, 20000)
  t.equal(app.server.keepAliveTimeout, 65000)
})
