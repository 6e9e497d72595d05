import { spawn } from 'node:child_process'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config'
import { call } from './helpers/http-call'
import { requirePostgres, createPostgresDatabase } from './helpers/postgres'
import { requireRedis, SECRET, tempDir, TEST_REDIS_URL } from './helpers'
import { SERVER, startServer } from './helpers/server-process'

// No setting's secret part ever appears in a message or a log line, whatever the setting's shape.
const PASSWORD = 'S3cr3tPassw0rd'
const leaks = (text: string): boolean => text.includes(PASSWORD) || text.includes(encodeURIComponent(PASSWORD).slice(0, 8))

const BAD_SHAPES: Array<Record<string, string>> = [
  { REDIS_URL: `redis//user:${PASSWORD}@host` },
  { REDIS_URL: `redis:/user:${PASSWORD}@host:6379` },
  { REDIS_URL: `redis//:${PASSWORD}@host` },
  { REDIS_URL: `redis//${PASSWORD}@host` },
  { REDIS_URL: `REDIS://user:${PASSWORD}@host` },
  { REDIS_URL: `redis://user:${PASSWORD}@host:badport` },
  { REDIS_URL: `redis://:${PASSWORD}@[::1` },
  { REDIS_URL: `redis://user:${PASSWORD}%zz@127.0.0.1:6379` },
  { REDIS_URL: ` redis://user:${PASSWORD}@host` },
  { REDIS_URL: `http://user:${PASSWORD}@host/?password=${PASSWORD}` },
  { DATABASE_URL: `postgres//user:${PASSWORD}@host/db` },
  { DATABASE_URL: `postgresql:/user:${PASSWORD}@host/db` },
  { DATABASE_URL: `mysql://user:${PASSWORD}@host/db` },
  { DATABASE_URL: `postgres://user:${PASSWORD}@host:badport/db` },
  { DATABASE_URL: `postgres://user:${PASSWORD}%zz@host/db` },
  { DATABASE_URL: `pg://host/db?sslmode=require&password=${PASSWORD}` },
  { DATABASE_URL: `postgres//user:p@ss:${PASSWORD}@host/db` },
  { JWT_SECRET_KEY: PASSWORD },
  { JWT_SECRET_KEY: `${PASSWORD}x`.repeat(3), JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY_FILE: '/nonexistent.pem' }
]

t.test('loadConfig: a malformed URL or secret is refused without its secret part', async (t) => {
  for (const env of BAD_SHAPES) {
    const what = JSON.stringify(env)
    try {
      loadConfig(env)
      t.fail(`${what} was accepted`)
    } catch (error) {
      t.ok(error instanceof ConfigError, `${what}: a ConfigError`)
      const message = (error as Error).message
      t.match(message, new RegExp(Object.keys(env)[0]), `${what}: the message names the setting`)
      t.notOk(leaks(message), `${what}: the message does not show the password: ${message}`)
    }
  }
  const kept = loadConfig({ REDIS_URL: `redis://user:${PASSWORD}@host:6379/2` })
  t.equal((kept.redis as { url?: string }).url, `redis://user:${PASSWORD}@host:6379/2`, 'a good URL is used as given')
  try {
    loadConfig({ DATABASE_URL: `postgres//user:${PASSWORD}@db.example:5433/gatehouse` })
  } catch (error) {
    t.match((error as Error).message, '"postgres//user:***@db.example:5433/gatehouse"', 'the rest of the value is shown, to find the mistake')
  }
})

t.test("the built server's start-up errors never print a password", async (t) => {
  const cwd = tempDir(t)
  const shapes: Array<Record<string, string>> = [
    ...BAD_SHAPES,
    { REDIS_URL: `redis://user:${PASSWORD}@127.0.0.1:1` },
    { DATABASE_URL: `postgres://user:${PASSWORD}@127.0.0.1:1/db` }
  ]
  await Promise.all(shapes.map(async (env) => {
    const child = spawn(process.execPath, [SERVER], { cwd, env: { PATH: process.env.PATH ?? '', PORT: '0', JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'trace', ...env } })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    t.equal(code, 1, `${JSON.stringify(env)}: exits 1`)
    t.notOk(leaks(output), `${JSON.stringify(env)}: no password in its output: ${output}`)
  }))
})

t.test("a running server's log lines never carry the stores' passwords", async (t) => {
  if (!await requirePostgres(t) || !await requireRedis(t)) return
  const database = new URL(await createPostgresDatabase(t))
  database.password = PASSWORD // trust authentication ignores it
  const redis = new URL(TEST_REDIS_URL)
  redis.password = PASSWORD // a Redis without a password ignores it, with a warning
  const server = await startServer(t, tempDir(t), {
    DATABASE_URL: database.toString(), REDIS_URL: redis.toString(), JWT_SECRET_KEY: SECRET, LOG_LEVEL: 'trace'
  })
  t.equal((await call(server.url, '/health/ready')).status, 200)
  t.equal((await call(server.url, '/login', { method: 'POST', body: { username: 'nobody', password: PASSWORD } })).status, 401)
  server.child.kill('SIGTERM')
  await server.exited
  t.ok(server.output().length > 0)
  t.notOk(leaks(server.output()), 'no password in any log line')
})
