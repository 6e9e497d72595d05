import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { flaskClaims, forge, redisClient, SECRET, tempDir } from '../helpers'
import { startHost } from '../helpers/resource-host'
import { answersPing, freePort, REDIS_SERVER_BIN, startRedisServer } from '../helpers/redis-server'

// redisSentinels + redisSentinelName: the plugin asks a Sentinel where the master is, and reads
// revocations there.
t.test('Redis Sentinel: the master the sentinel names holds the revocations read', async (t) => {
  const master = await startRedisServer(t)
  if (master === undefined) return
  const dir = tempDir(t)
  const port = await freePort()
  // Sentinel rewrites its configuration file, so it gets one of its own.
  writeFileSync(join(dir, 'sentinel.conf'), `port ${port}\nbind 127.0.0.1\nsentinel monitor gh 127.0.0.1 ${master.port} 1\n`)
  const sentinel = spawn(REDIS_SERVER_BIN, [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' })
  const exited = new Promise((resolve) => sentinel.once('close', resolve))
  t.teardown(async () => { sentinel.kill('SIGKILL'); await exited })
  for (let i = 0; i < 100 && !await answersPing(port); i++) await new Promise((resolve) => setTimeout(resolve, 50))

  const prefix = 'gatehouse-rs-sentinel:'
  await redisClient(t, master.url).set(`${prefix}epoch`, 'restored')
  const host = await startHost(t, { secret: SECRET, redisSentinels: `127.0.0.1:${port}`, redisSentinelName: 'gh', redisKeyPrefix: prefix })
  const claims = flaskClaims(5)
  const token = forge(claims)
  t.equal((await host.get('/me', token)).statusCode, 200)
  // As Gatehouse's logout writes it: the token's key, under the user's hash tag.
  await redisClient(t, master.url).set(`${prefix}{u:5}:t:${claims.jti as string}`, 1, 'EX', 60)
  t.equal((await host.get('/me', token)).error, 'token_revoked')
  t.ok(host.logLines().some((line) => line.msg === 'redis connected' && /^sentinel gh via 127\.0\.0\.1:\d+$/.test(line.redis)), 'the log names the sentinel, never a password')
})
