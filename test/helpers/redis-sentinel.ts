import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Redis from 'ioredis'
import { tempDir } from '.'
import { answersPing, freePort, REDIS_SERVER_BIN, startRedisServer, type PrivateRedis } from './redis-server'

import type {} from 'tap'

type Test = tap.Test

// Debian's redis-sentinel package; `redis-server --sentinel` is the same program.
export const REDIS_SENTINEL_BIN = '/usr/bin/redis-sentinel'
const IN_CI = process.env.CI === 'true'
const WAIT_MS = 15_000
const POLL_MS = 100

/** One master, one replica and three sentinels watching them, all private to the test. */
export interface SentinelGroup {
  name: string
  master: PrivateRedis
  replica: PrivateRedis
  /** The sentinels' addresses, as REDIS_SENTINELS takes them. */
  sentinels: string
  sentinelPorts: number[]
  /** How long the sentinels wait before they call the master down. */
  downAfterMs: number
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms`)
    await sleep(POLL_MS)
  }
}

async function withClient<T> (port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    return await use(client)
  } finally {
    client.disconnect()
  }
}

async function startSentinel (t: Test, port: number, config: string): Promise<void> {
  const dir = tempDir(t)
  const file = join(dir, 'sentinel.conf')
  // Sentinel rewrites its configuration file as it learns the group: it must be its own, writable.
  writeFileSync(file, `port ${port}\nbind 127.0.0.1\ndir ${dir}\n${config}`)
  const [command, args] = existsSync(REDIS_SENTINEL_BIN) ? [REDIS_SENTINEL_BIN, [file]] : [REDIS_SERVER_BIN, [file, '--sentinel']]
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-4000) }
  child.stdout.on('data', collect)
  child.stderr.on('data', collect)
  const exited = new Promise<void>((resolve) => { child.once('close', () => { resolve() }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  await until(`redis-sentinel on port ${port} answering PING\n${output}`, async () => await answersPing(port))
}

/**
 * Starts a master, its replica and three sentinels (quorum 2, `down-after-milliseconds`
 * `downAfterMs`), and returns once every sentinel knows the replica and the other two sentinels,
 * so a failover can happen. Everything is killed when the test ends. Where the binaries are
 * missing the test is skipped with a message (failed in CI), and this returns undefined.
 */
export async function startSentinelGroup (t: Test, downAfterMs = 1000): Promise<SentinelGroup | undefined> {
  if (!existsSync(REDIS_SENTINEL_BIN) && !existsSync(REDIS_SERVER_BIN)) {
    const message = `${REDIS_SENTINEL_BIN} is not installed (apt-get install redis-sentinel)`
    if (IN_CI) t.fail(message)
    else t.pass(message, { skip: true })
    return undefined
  }
  const name = 'gatehouse-test'
  // A replica saves what it receives in a full sync to its directory: a temporary one, not the cwd.
  const master = await startRedisServer(t, ['--dir', tempDir(t)])
  if (master === undefined) return undefined
  const replica = await startRedisServer(t, ['--dir', tempDir(t), '--replicaof', '127.0.0.1', String(master.port)])
  if (replica === undefined) return undefined
  await until('the replica in sync', async () => await withClient(replica.port, async (client) =>
    (await client.info('replication')).includes('master_link_status:up')))

  const sentinelPorts: number[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    await startSentinel(t, port, [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
      `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
      `sentinel failover-timeout ${name} 10000`,
      `sentinel parallel-syncs ${name} 1`,
      ''
    ].join('\n'))
    sentinelPorts.push(port)
  }
  for (const port of sentinelPorts) {
    await until(`sentinel ${port} knowing the replica and the other sentinels`, async () => await withClient(port, async (client) => {
      const replicas = await client.call('SENTINEL', 'REPLICAS', name) as unknown[]
      const others = await client.call('SENTINEL', 'SENTINELS', name) as unknown[]
      return replicas.length === 1 && others.length === 2
    }))
  }
  return { name, master, replica, sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','), sentinelPorts, downAfterMs }
}
