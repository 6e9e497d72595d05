import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import Redis from 'ioredis'
import { freePort } from './free-port'

const HELP = `npm run bench:mirror -- [options]
Two instances with REVOCATION_MODE=mirror on one Redis and one database: logouts on instance A,
and on instance B the time from each revocation's publication to its application in B's mirror.
  --revocations N  logouts on A (default 10000); each publishes its token and its session
  --concurrency N  logouts in flight at once (default 1)
  --json           print JSON instead of the table
Environment: DATABASE_URL (default: a fresh SQLite file both share), BENCH_REDIS_URL (default redis://127.0.0.1:6379).`

const { values: args } = parseArgs({
  options: {
    revocations: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})
const revocations = Number(args.revocations)
const concurrency = Number(args.concurrency)
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const ROOT = resolve(__dirname, '..', '..')
const PASSWORD = 'benchmark password'
const log = (message: string): void => { if (!args.json) console.error(message) }

/** The service on a free port, with `node` flags before its script; resolves once /health/ready answers 200. */
async function startService (env: Record<string, string>, nodeFlags: string[] = []): Promise<{ child: ChildProcess, url: string }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // As npm start runs it.
  const child = spawn(process.execPath, ['--max-semi-space-size=4', ...nodeFlags, join(ROOT, 'dist', 'src', 'server.js')], {
    env: { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`)
    if (await fetch(`${url}/health/ready`).then((response) => response.ok, () => false)) return { child, url }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`the service did not answer on ${url}`)
}

async function post (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]

async function main (): Promise<void> {
  if (args.help) { console.log(HELP); return }
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-mirror-'))
  const children: ChildProcess[] = []
  const prefix = `gatehouse-bench-mirror:${randomUUID()}:`
  const secret = randomBytes(32).toString('hex')
  const probeFile = join(dir, 'delays.json')
  try {
    const env: Record<string, string> = {
      DATABASE_URL: process.env.DATABASE_URL ?? `sqlite:${join(dir, 'bench.db')}`,
      JWT_SECRET_KEY: secret,
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      REVOCATION_MODE: 'mirror',
      LOG_LEVEL: 'warn',
      SHUTDOWN_DRAIN_MS: '0',
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072'
    }
    const a = await startService(env)
    children.push(a.child)
    const b = await startService({ ...env, MIRROR_PROBE_FILE: probeFile }, ['--require', join(ROOT, 'dist', 'bench', 'mirror-probe.js')])
    children.push(b.child)

    const username = `bench${randomBytes(3).toString('hex')}`
    if ((await post(`${a.url}/register`, { username, password: PASSWORD })).status !== 201) throw new Error('register failed')
    const login = await post(`${a.url}/login`, { username, password: PASSWORD })
    if (!login.ok) throw new Error(`login failed: ${login.status}`)
    const access = (await login.json() as { access_token: string }).access_token
    // Each logout needs a live token of its own: the login's, with another jti and session,
    // signed as the service signs.
    const [header, payload] = access.split('.')
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    const mint = (): string => {
      const input = `${header}.${Buffer.from(JSON.stringify({ ...claims, jti: randomUUID(), sid: randomUUID() })).toString('base64url')}`
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
    }

    log(`${revocations} logouts on instance A, ${concurrency} at a time…`)
    let next = 0
    let failed = 0
    const started = Date.now()
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < revocations) {
        next += 1
        const response = await post(`${a.url}/logout`, {}, { authorization: `Bearer ${mint()}` })
        if (!response.ok) failed += 1
        await response.arrayBuffer()
      }
    }))
    const seconds = (Date.now() - started) / 1000
    // The last messages are on their way; then B writes what it saw as it exits.
    await new Promise((resolve) => setTimeout(resolve, 500))
    b.child.kill('SIGTERM')
    await once(b.child, 'exit')

    const delays = JSON.parse(readFileSync(probeFile, 'utf8')) as Array<{ kind: string, ms: number }>
    const summary = (kind: string) => {
      const sorted = delays.filter((delay) => kind === 'all' || delay.kind === kind).map((delay) => delay.ms).sort((x, y) => x - y)
      const round = (ms: number): number => Number(ms.toFixed(2))
      return { kind, messages: sorted.length, p50_ms: round(percentile(sorted, 50)), p90_ms: round(percentile(sorted, 90)), p99_ms: round(percentile(sorted, 99)), max_ms: round(sorted[sorted.length - 1]) }
    }
    const rows = [summary('token'), summary('session'), summary('all')]
    const result = { revocations, concurrency, failed, logouts_per_s: Math.round(revocations / seconds), load_average: loadavg().map((x) => Number(x.toFixed(2))), results: rows }
    if (args.json) {
      console.log(JSON.stringify(result, null, 2))
      return
    }
    console.log(`\n${revocations} logouts on A (${concurrency} at a time, ${result.logouts_per_s}/s, ${failed} failed); load average ${result.load_average.join(', ')}`)
    console.log('From publication on A to application in B\'s mirror:')
    console.log('| messages | count | p50 ms | p90 ms | p99 ms | max ms |')
    console.log('|---|---|---|---|---|---|')
    for (const row of rows) console.log(`| ${row.kind} | ${row.messages} | ${row.p50_ms} | ${row.p90_ms} | ${row.p99_ms} | ${row.max_ms} |`)
  } finally {
    await Promise.all(children.filter((child) => child.exitCode === null).map(async (child) => {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }))
    const redis = new Redis(REDIS_URL)
    let cursor = '0'
    do {
      const [following, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10000)
      if (keys.length > 0) await redis.unlink(...keys)
      cursor = following
    } while (cursor !== '0')
    redis.disconnect()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
