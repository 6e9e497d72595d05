import { randomUUID } from 'node:crypto'
import { Agent } from 'node:http'
import t from 'tap'
import { requireRedis, SECRET, tempDir, TEST_REDIS_URL } from '../helpers'
import { call } from '../helpers/http-call'
import { startNginx } from '../helpers/nginx'
import { createPostgresDatabase, requirePostgres } from '../helpers/postgres'
import { startServer } from '../helpers/server-process'

// A steady stream, bounded in count and time; it stops by itself. Only loopback is addressed.
const CLIENTS = 4
const MAX_REQUESTS = 4000
const MAX_MS = 30_000
const BEFORE_SIGNAL = 200
const AFTER_EXIT = 300
const EXIT_WAIT_MS = 15_000

t.test('SIGTERM to one of two instances under a stream of GETs through nginx: no request fails, the process exits 0', async (t) => {
  if (!await requireRedis(t) || !await requirePostgres(t)) return
  const env = {
    DATABASE_URL: await createPostgresDatabase(t),
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: `gatehouse-shutdown-test:${randomUUID()}:`,
    JWT_SECRET_KEY: SECRET,
    LOG_LEVEL: 'info',
    TRUST_PROXY: '127.0.0.1',
    SHUTDOWN_DRAIN_MS: '1000',
    SHUTDOWN_TIMEOUT_MS: '10000'
  }
  const a = await startServer(t, tempDir(t), env)
  const b = await startServer(t, tempDir(t), env)
  const nginx = await startNginx(t, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`])
  if (nginx === undefined) return

  const credentials = { username: `stream_${randomUUID().slice(0, 8)}`, password: 'correct horse battery' }
  t.equal((await call(nginx.url, '/register', { method: 'POST', body: credentials })).status, 201, 'register')
  const token = (await call(nginx.url, '/login', { method: 'POST', body: credentials })).json.access_token
  t.equal((await call(nginx.url, '/item/streamed', { method: 'PUT', token, body: { price: 1 } })).status, 201, 'create the item to read')

  // Each GET checks the token (Redis) and reads the item (PostgreSQL), over kept-alive connections.
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS })
  t.teardown(() => { agent.destroy() })
  const failures: string[] = []
  let sent = 0
  let answered = 0
  let stop = false
  const started = Date.now()
  async function client (): Promise<void> {
    while (!stop && sent < MAX_REQUESTS && Date.now() - started < MAX_MS) {
      sent++
      const answer = await call(nginx!.url, '/item/streamed', { token, agent }).catch((error: Error) => ({ status: 0, json: error.message }))
      answered++
      if (answer.status !== 200) failures.push(`${answer.status} ${JSON.stringify(answer.json)}`)
    }
  }
  async function until (what: string, condition: () => boolean): Promise<void> {
    while (!condition()) {
      if (Date.now() - started > MAX_MS) throw new Error(`${what}: not within ${MAX_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  const stream = Promise.all(Array.from({ length: CLIENTS }, client))

  await until('the stream running', () => answered >= BEFORE_SIGNAL)
  a.child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([a.exited, new Promise<string>((resolve) => { timer = setTimeout(() => { resolve('still running') }, EXIT_WAIT_MS) })])
  clearTimeout(timer)
  const atExit = answered
  await until('the stream going on after the exit', () => answered >= atExit + AFTER_EXIT || sent >= MAX_REQUESTS)
  stop = true
  await stream

  t.equal(code, 0, 'instance A exits 0')
  t.same(failures, [], `no request failed (${answered} answered)`)
  const drainedAt = a.logLines().findIndex((line) => line.msg === 'shutting down: draining')
  const servedWhileDraining = a.logLines().slice(drainedAt).filter((line) => line.msg === 'request completed').length
  t.ok(drainedAt >= 0 && servedWhileDraining > 0, `instance A served ${servedWhileDraining} requests while draining`)
  // A request nginx handed to the other instance lists both: "127.0.0.1:A, 127.0.0.1:B".
  const byUpstream = new Map<string, number>()
  for (const line of nginx.accessLog()) {
    const upstream = / upstream=(.*) upstream_status=/.exec(line)?.[1] ?? '-'
    byUpstream.set(upstream, (byUpstream.get(upstream) ?? 0) + 1)
  }
  t.ok((byUpstream.get(`127.0.0.1:${a.port}`) ?? 0) > 0 && (byUpstream.get(`127.0.0.1:${b.port}`) ?? 0) > 0, 'both instances took part')
  t.comment(`answered ${answered} GETs in ${Date.now() - started} ms; nginx upstreams: ${JSON.stringify(Object.fromEntries(byUpstream))}`)
  t.ok(answered - atExit >= AFTER_EXIT, `after A exited, instance B answered ${answered - atExit} more`)
})
