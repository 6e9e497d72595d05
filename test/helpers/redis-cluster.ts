import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { tempDir } from '.'
import { startRedisServer, type PrivateRedis } from './redis-server'

import type {} from 'tap'

type Test = tap.Test

export const REDIS_CLI_BIN = '/usr/bin/redis-cli'
const IN_CI = process.env.CI === 'true'
const WAIT_MS = 15_000
const POLL_MS = 100

const run = promisify(execFile)
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/**
 * A Redis Cluster of `masters` private redis-server processes on free loopback ports, its slots
 * spread over them by `redis-cli --cluster create`, returned once every node reports
 * cluster_state:ok. The nodes are killed when the test ends. Where redis-server or redis-cli is
 * missing the test is skipped with a message (failed in CI), and this returns undefined.
 */
export async function startRedisCluster (t: Test, masters = 3): Promise<PrivateRedis[] | undefined> {
  if (!existsSync(REDIS_CLI_BIN)) {
    const message = `${REDIS_CLI_BIN} is not installed (apt-get install redis-server)`
    if (IN_CI) t.fail(message)
    else t.pass(message, { skip: true })
    return undefined
  }
  const nodes: PrivateRedis[] = []
  for (let i = 0; i < masters; i++) {
    // Each node keeps its cluster state (nodes.conf) in a directory of its own.
    const node = await startRedisServer(t, ['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000', '--dir', tempDir(t)])
    if (node === undefined) return undefined
    nodes.push(node)
  }
  await run(REDIS_CLI_BIN, [
    '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'
  ], { timeout: WAIT_MS })

  const deadline = Date.now() + WAIT_MS
  for (const node of nodes) {
    for (;;) {
      const { stdout } = await run(REDIS_CLI_BIN, ['-p', String(node.port), 'cluster', 'info'], { timeout: WAIT_MS })
      if (stdout.includes('cluster_state:ok')) break
      if (Date.now() > deadline) throw new Error(`the cluster node on port ${node.port} is not ok within ${WAIT_MS} ms:\n${stdout}`)
      await sleep(POLL_MS)
    }
  }
  return nodes
}
