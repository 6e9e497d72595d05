import { request, type IncomingMessage } from 'node:http'
import { createConnection } from 'node:net'
import t from 'tap'
import { SECRET, tempDir } from '../helpers'
import { startServer, type ServerProcess } from '../helpers/server-process'

// Upper bounds that only keep a broken build from hanging; nothing here measures speed.
const BOUND_MS = 15_000

interface Answer { status: number, headers: IncomingMessage['headers'], body: string }

/**
 * A POST whose headers and first half of the body are sent now, the rest when `finish` is called:
 * a request in flight for as long as the test likes.
 */
function slowPost (port: number, path: string, body: unknown): { finish: () => Promise<Answer>, abort: () => void } {
  const payload = Buffer.from(JSON.stringify(body))
  const half = Math.floor(payload.length / 2)
  const req = request({
    host: '127.0.0.1', port, path, method: 'POST', agent: false,
    headers: { 'content-type': 'application/json', 'content-length': payload.length }
  })
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('error', reject)
    req.once('response', (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => { text += chunk.toString() })
      response.once('end', () => { resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }) })
    })
  })
  answer.catch(() => {})
  req.write(payload.subarray(0, half))
  return {
    async finish () {
      req.end(payload.subarray(half))
      return await answer
    },
    abort () { req.destroy() }
  }
}

/** Whether a new connection to the port is refused. */
async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => { resolve(true) })
  })
}

async function waitUntil (what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + BOUND_MS
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${BOUND_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function untilExit (server: ServerProcess): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'still running'>((resolve) => { timer = setTimeout(() => { resolve('still running') }, BOUND_MS) })
  const code = await Promise.race([server.exited, timeout])
  clearTimeout(timer)
  if (code === 'still running') throw new Error(`the server did not exit within ${BOUND_MS} ms:\n${server.output()}`)
  return code
}

const isIncoming = (path: string) => (line: Record<string, any>): boolean => line.msg === 'incoming request' && line.req?.url === path

t.test('SIGTERM: not ready at once, new work served while draining, then in-flight requests finish and the process exits 0', async (t) => {
  const server = await startServer(t, tempDir(t), {
    JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '2000', SHUTDOWN_TIMEOUT_MS: '10000'
  })
  t.equal((await fetch(`${server.url}/health/ready`)).status, 200, 'ready before the signal')
  const inFlight = slowPost(server.port, '/register', { username: 'in_flight', password: 'correct horse battery' })
  t.teardown(inFlight.abort)
  await server.waitForLog('the slow request arriving', isIncoming('/register'))

  server.child.kill('SIGTERM')
  await server.waitForLog('the drain starting', (line) => line.msg === 'shutting down: draining')
  const ready = await fetch(`${server.url}/health/ready`)
  t.equal(ready.status, 503, '/health/ready answers 503 once the signal is handled')
  t.same(await ready.json(), { statusCode: 503, error: 'shutting_down', message: 'This instance is shutting down.' })
  const items = await fetch(`${server.url}/items`)
  t.equal(items.status, 200, 'new requests are still served while draining')
  t.equal(items.headers.get('connection'), 'close', 'with Connection: close, so clients move off kept-alive connections')
  t.equal(server.child.exitCode, null, 'the process runs on through the drain')

  await server.waitForLog('the drain ending', (line) => line.msg === 'drained: closing the listener, finishing requests in flight')
  await waitUntil('the listener closing', async () => await refused(server.port))
  t.pass('after the drain, new connections are refused while a request is still in flight')

  const answer = await inFlight.finish()
  t.equal(answer.status, 201, `the request in flight is answered in full: ${answer.body}`)
  t.equal(await untilExit(server), 0, 'the process exits 0')
  t.ok(server.logLines().some((line) => line.msg === 'shut down'), 'after closing Redis and the database')
})

t.test('a shutdown that cannot finish is cut off after SHUTDOWN_TIMEOUT_MS with a non-zero exit', async (t) => {
  const server = await startServer(t, tempDir(t), {
    JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '100', SHUTDOWN_TIMEOUT_MS: '1500'
  })
  // Its body never comes: the request never ends, so neither would a shutdown that waits for it.
  const stuck = slowPost(server.port, '/register', { username: 'never_finished', password: 'correct horse battery' })
  t.teardown(stuck.abort)
  await server.waitForLog('the stuck request arriving', isIncoming('/register'))

  server.child.kill('SIGTERM')
  t.equal(await untilExit(server), 1, 'the process exits 1')
  t.ok(server.logLines().some((line) => line.msg === 'shutdown did not finish in time: exiting anyway'), 'saying why')
})
