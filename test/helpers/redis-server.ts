import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'

import type {} from 'tap'

type Test = tap.Test

export const REDIS_SERVER_BIN = '/usr/bin/redis-server'
const IN_CI = process.env.CI === 'true'
const WAIT_MS = 5000
const POLL_MS = 50

/** A redis-server of the test's own, on a loopback port; killed when the test ends. */
export interface PrivateRedis {
  url: string
  port: number
  /** Kills the server (SIGKILL, so nothing is saved) and waits until it has exited. */
  stop: () => Promise<void>
  /** Starts it again on the same port and waits until it answers PING. */
  start: () => Promise<void>
  /** Sends a signal to the running server (SIGSTOP, SIGCONT…). */
  signal: (signal: NodeJS.Signals) => void
}

/** A port nothing listens on right now: the kernel picks one, then it is released. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { port > 0 ? resolve(port) : reject(new Error('no port assigned')) })
    })
  })
}

/** Whether something on `port` answers a PING with +PONG within a second. */
export async function answersPing (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const done = (result: boolean): void => { socket.destroy(); resolve(result) }
    socket.setTimeout(1000, () => { done(false) })
    socket.once('error', () => { done(false) })
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString()
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'))
    })
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

interface Running {
  child: ChildProcess
  exited: Promise<void>
  output: () => string
}

function spawnRedis (port: number, extraArgs: string[]): Running {
  const child = spawn(REDIS_SERVER_BIN, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  // 'close' rather than 'exit': the pipes are drained too, so nothing of ours is left open.
  const exited = new Promise<void>((resolve) => { child.once('close', () => { resolve() }) })
  child.once('error', (error) => { collect(Buffer.from(`spawn failed: ${error.message}\n`)) })
  return { child, exited, output: () => output }
}

const isRunning = (running: Running | undefined): running is Running =>
  running !== undefined && running.child.exitCode === null && running.child.signalCode === null

async function waitForPing (running: Running, port: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  let exited = false
  void running.exited.then(() => { exited = true })
  while (Date.now() < deadline) {
    if (exited) throw new Error(`redis-server on port ${port} exited before answering PING:\n${running.output()}`)
    if (await answersPing(port)) return
    await sleep(POLL_MS)
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${WAIT_MS} ms:\n${running.output()}`)
}

async function kill (running: Running): Promise<void> {
  if (isRunning(running)) running.child.kill('SIGKILL')
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout') }, WAIT_MS) })
  const result = await Promise.race([running.exited, timedOut])
  clearTimeout(timer)
  if (result === 'timeout') throw new Error(`redis-server (pid ${running.child.pid}) did not exit within ${WAIT_MS} ms of SIGKILL`)
}

/**
 * Starts a private redis-server for `t` on a free loopback port, once it answers PING, with
 * `extraArgs` after the usual ones (cluster mode, say). Where the binary is missing the test is
 * skipped with a message, except in CI, where that fails the test; then it returns undefined.
 */
export async function startRedisServer (t: Test, extraArgs: string[] = []): Promise<PrivateRedis | undefined> {
  if (!existsSync(REDIS_SERVER_BIN)) {
    const message = `${REDIS_SERVER_BIN} is not installed (apt-get install redis-server)`
    if (IN_CI) t.fail(message)
    else t.pass(message, { skip: true })
    return undefined
  }

  let running: Running | undefined
  // Torn down last among what the test registers after this call (tap runs teardowns last in,
  // first out), and it never throws, so the teardowns after it still run.
  t.teardown(async () => {
    if (running !== undefined) await kill(running).catch(() => {})
  })

  async function startOn (port: number): Promise<void> {
    if (isRunning(running)) throw new Error(`redis-server on port ${port} is already running`)
    running = spawnRedis(port, extraArgs)
    try {
      await waitForPing(running, port)
    } catch (error) {
      await kill(running).catch(() => {})
      throw error
    }
  }

  // Another process may take the port between freePort() and the bind: then try another one.
  let port = 0
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    try {
      await startOn(port)
      break
    } catch (error) {
      if (attempt >= 3) throw error
    }
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop () {
      if (running !== undefined) await kill(running)
    },
    async start () {
      await startOn(port)
    },
    signal (signal) {
      if (isRunning(running)) running.child.kill(signal)
    }
  }
}
