import { writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join, resolve } from 'node:path'
import t from 'tap'
import { SECRET, tempDir } from '../helpers'
import { SERVER, startServer, type ServerProcess } from '../helpers/server-process'

type Test = tap.Test

const ROOT = resolve(__dirname, '..', '..')
// Only keeps a broken build from hanging; the bounds that matter are asserted below.
const BOUND_MS = 15_000

async function refused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', () => { resolve(true) })
  })
}

/** The exit code, and how long after `since` it came; throws past BOUND_MS. */
async function exit (server: ServerProcess, since = Date.now()): Promise<{ code: number | null, ms: number }> {
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([server.exited, new Promise<'running'>((resolve) => { timer = setTimeout(() => { resolve('running') }, BOUND_MS) })])
  clearTimeout(timer)
  if (code === 'running') throw new Error(`still running after ${BOUND_MS} ms:\n${server.output()}`)
  return { code, ms: Date.now() - since }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const env = (extra: Record<string, string> = {}): Record<string, string> => ({ JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'info', ...extra })

t.test('npm start runs the built server without building, and SIGTERM to npm stops node and frees the port', async (t: Test) => {
  const data = tempDir(t)
  const started = Date.now()
  const server = await startServer(t, ROOT, { ...env(), DATA_DIR: data, HOME: process.env.HOME ?? data }, ['npm', 'start'])
  t.comment(`npm start listened after ${Date.now() - started} ms`)
  t.notMatch(server.output(), /tsc|prestart/, 'no compile step before the start')
  const nodePid = server.logLines().find((line) => typeof line.pid === 'number')?.pid as number
  t.not(nodePid, server.child.pid, 'node is a process of its own under npm')
  t.equal((await fetch(`${server.url}/health/live`)).status, 200)

  server.child.kill('SIGTERM')
  await server.waitForLog('node receiving the signal', (line) => line.msg === 'shutting down: draining' && line.signal === 'SIGTERM')
  const { code } = await exit(server)
  t.equal(code, 0, 'npm exits 0 with node')
  t.notOk(alive(nodePid), 'node has stopped too')
  t.ok(await refused(server.port), 'nothing serves the port any more')
})

t.test('a second stop signal exits at once; the same signal twice within half a second counts once', async (t: Test) => {
  const cwd = tempDir(t)
  const insisted = await startServer(t, cwd, env({ SHUTDOWN_DRAIN_MS: '8000', SHUTDOWN_TIMEOUT_MS: '10000' }))
  insisted.child.kill('SIGINT')
  await insisted.waitForLog('the drain', (line) => line.msg === 'shutting down: draining')
  await new Promise((resolve) => setTimeout(resolve, 700))
  const second = Date.now()
  insisted.child.kill('SIGINT')
  const { code, ms } = await exit(insisted, second)
  t.equal(code, 1)
  t.ok(ms < 1000, `exited ${ms} ms after the second Ctrl-C, not after the 8 s drain`)
  t.ok(insisted.logLines().some((line) => line.msg === 'second stop signal: exiting at once'), 'and says so')

  // A terminal's Ctrl-C reaches node and npm, which forwards it: node gets two at once.
  const doubled = await startServer(t, cwd, env({ SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_TIMEOUT_MS: '10000' }))
  doubled.child.kill('SIGINT')
  doubled.child.kill('SIGINT')
  t.equal((await exit(doubled)).code, 0, 'drained and closed cleanly')
  t.ok(doubled.logLines().some((line) => line.msg === 'shut down'))
})

t.test('NODE_ENV=development: Ctrl-C stops at once, without the drain', async (t: Test) => {
  const server = await startServer(t, tempDir(t), env({ NODE_ENV: 'development' }))
  const sent = Date.now()
  server.child.kill('SIGINT')
  const { code, ms } = await exit(server, sent)
  t.equal(code, 0)
  t.ok(ms < 1000, `stopped in ${ms} ms`)
  t.match(server.logLines().find((line) => line.msg === 'shutting down: draining'), { drainMs: 0 })
})

t.test('an uncaught exception or rejection is logged, the app closes, the process exits 1', async (t: Test) => {
  const dir = tempDir(t)
  // Fails on SIGWINCH, which the server does not handle: a bug's exception or rejection, on demand.
  const preload = join(dir, 'fail-on-demand.js')
  writeFileSync(preload, `process.on('SIGWINCH', () => {
    if (process.env.FAIL === 'rejection') Promise.reject(new Error('a rejection nobody handled'))
    else throw new Error('an exception nobody caught')
  })\n`)
  for (const [fail, message] of [['exception', 'an exception nobody caught'], ['rejection', 'a rejection nobody handled']]) {
    const server = await startServer(t, dir, env({ FAIL: fail }), [process.execPath, '-r', preload, SERVER])
    server.child.kill('SIGWINCH')
    const { code } = await exit(server)
    t.equal(code, 1, `${fail}: exits 1`)
    t.match(server.logLines().find((line) => line.level === 60), { msg: 'uncaught error: shutting down', err: { message } }, `${fail}: logged as fatal`)
    t.ok(server.logLines().some((line) => line.msg === 'shut down'), `${fail}: the app closed first`)
    t.ok(await refused(server.port), `${fail}: the port is free`)
  }
})
