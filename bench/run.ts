import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import Redis from 'ioredis'
import { freePort } from './free-port'
import { buildApp } from '../src/app'
import { loadConfig } from '../src/config'
import { runAgainstTarget } from './target'
import { hashPassword } from '../src/accounts'
import { generatePrivateKey, signInput, SIGNING_ALGORITHMS, type AsymmetricAlgorithm, type SigningAlgorithm, loadSigning } from '../src/tokens'

const HELP = `npm run bench -- [options]
  --duration S     seconds per scenario and round (default 10)
  --warmup S       seconds of warm-up per scenario before the first round (default 3)
  --connections N  concurrent connections (default 50)
  --rounds N       rounds; scenarios run alternately in each (default 3)
  --users N        users in the database (default 1000)
  --items N        items in the database (default 10000)
  --revoked N      revoked JTIs in the revocation store (default 100000)
  --store S        redis (default) or sql: where revocations live
  --revocation-mode M  strict (default) or mirror: the service's REVOCATION_MODE, and the host's revocationMode (mirror needs --store redis)
  --algorithm A    HS256 (default), RS256, ES256 or EdDSA: how tokens are signed
  --only A,B       run only these scenarios (hello, and the baseline a scenario is measured against, always run)
  --json           print JSON instead of the table
Against a deployment (through nginx, for sizing) instead of local processes:
  --target URL     a realistic mix per connection: login, reads, refresh, reads, logout
  --rate N         requests per second over all connections (default 0: unbounded)
  --accounts N     accounts to create there with /register (default: one per connection)
  --account-file F or existing accounts, one username:password a line
Environment: DATABASE_URL (default: a fresh SQLite file), BENCH_REDIS_URL (default redis://127.0.0.1:6379).`

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    users: { type: 'string', default: '1000' },
    items: { type: 'string', default: '10000' },
    revoked: { type: 'string', default: '100000' },
    store: { type: 'string', default: 'redis' },
    'revocation-mode': { type: 'string', default: 'strict' },
    algorithm: { type: 'string', default: 'HS256' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    target: { type: 'string' },
    rate: { type: 'string', default: '0' },
    accounts: { type: 'string' },
    'account-file': { type: 'string' },
    help: { type: 'boolean', default: false }
  }
})
const duration = Number(args.duration)
const warmup = Number(args.warmup)
const connections = Number(args.connections)
const rounds = Number(args.rounds)
const userCount = Number(args.users)
const itemCount = Number(args.items)
const revokedCount = Number(args.revoked)
const algorithm = args.algorithm as SigningAlgorithm
if (!SIGNING_ALGORITHMS.includes(algorithm)) throw new Error(`--algorithm must be one of ${SIGNING_ALGORITHMS.join(', ')}`)
const revocationMode = args['revocation-mode']
if (revocationMode !== 'strict' && revocationMode !== 'mirror') throw new Error('--revocation-mode must be strict or mirror')
if (revocationMode === 'mirror' && args.store !== 'redis') throw new Error('--revocation-mode mirror needs --store redis')
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const ROOT = resolve(__dirname, '..', '..')
const PASSWORD = 'benchmark password'

const hasTaskset = existsSync('/usr/bin/taskset')
// The service's Node flags as npm start and the image give them: V8's young generation bounded.
const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4']
const log = (message: string): void => { if (!args.json) console.error(message) }

/**
 * Runs a Node server script on a free port, pinned to core 0 when taskset is there (the load
 * generator has core 1), and resolves once `readyPath` answers 200.
 */
async function startProcess (script: string, env: Record<string, string>, readyPath: string, nodeFlags: string[] = []): Promise<{ child: ChildProcess, url: string }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const command = hasTaskset ? 'taskset' : process.execPath
  const argv = hasTaskset ? ['-c', '0', process.execPath, ...nodeFlags, script] : [...nodeFlags, script]
  const child = spawn(command, argv, {
    env: { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}`)
    const ok = await fetch(url + readyPath).then((response) => response.ok, () => false)
    if (ok) return { child, url }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`${script} did not answer on ${url}${readyPath}`)
}

// CPU time is counted in clock ticks of 1/100 s (getconf CLK_TCK on Linux).
const TICK_US = 10_000

/** User plus system CPU time a process has used so far, in microseconds (/proc/<pid>/stat). */
function cpuUs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are
  // the 14th and 15th fields of the line, the 12th and 13th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

/** The pid of the Redis server, when it runs on this machine (its CPU counts for the service). */
async function redisPid (redis: Redis | undefined): Promise<number | undefined> {
  if (redis === undefined) return undefined
  const match = /process_id:(\d+)/.exec(await redis.info('server'))
  const pid = match === null ? undefined : Number(match[1])
  return pid !== undefined && existsSync(`/proc/${pid}/stat`) ? pid : undefined
}

function rssMb (pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? 0 : Number(match[1]) / 1024
}

interface Scenario {
  name: string
  target: 'hello' | 'service' | 'host'
  requests: autocannon.Request[]
  /** Another load run at the same time; its latency is not the one reported. */
  background?: Omit<Scenario, 'background' | 'name'>
  /** The target ratio to the hello route, from the performance issue (printed, not asserted). */
  target_ratio?: number
  /** The scenario the ratio is to, when not the hello route. */
  baseline?: string
}

interface Sample {
  rps: number
  p50: number
  p97_5: number
  p99: number
  errors: number
  rss: number
  /** CPU microseconds per request served: the server's, and the Redis server's when it is local. */
  serverCpuUs: number
  redisCpuUs: number
}

async function load (url: string, requests: autocannon.Request[], seconds: number): Promise<autocannon.Result> {
  return await autocannon({ url, connections, duration: seconds, requests })
}

async function main (): Promise<void> {
  if (args.help) { console.log(HELP); return }
  if (args.target !== undefined) {
    await runAgainstTarget({
      url: args.target,
      rate: Number(args.rate),
      duration,
      connections,
      accounts: Number(args.accounts ?? connections),
      accountFile: args['account-file']
    })
    return
  }
  if (hasTaskset && process.env.GATEHOUSE_BENCH_PINNED !== '1') {
    // Re-run on core 1 so the load generator and the servers do not share a core.
    execFileSync('taskset', ['-c', '1', process.execPath, __filename, ...process.argv.slice(2)], {
      stdio: 'inherit', env: { ...process.env, GATEHOUSE_BENCH_PINNED: '1' }
    })
    return
  }

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'))
  const children: ChildProcess[] = []
  const redis = args.store === 'redis' ? new Redis(REDIS_URL) : undefined
  const prefix = `gatehouse-bench:${randomUUID()}:`
  try {
    // HS256 signs with a secret; the others with a new private key in a file, as in production.
    const secret = randomBytes(32).toString('hex')
    const privateKey = algorithm === 'HS256' ? undefined : generatePrivateKey(algorithm)
    const keyFile = join(dir, 'signing.pem')
    if (privateKey !== undefined) writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
    const env: Record<string, string> = {
      DATABASE_URL: process.env.DATABASE_URL ?? `sqlite:${join(dir, 'bench.db')}`,
      ...(privateKey === undefined ? { JWT_SECRET_KEY: secret } : { JWT_ALGORITHM: algorithm, JWT_PRIVATE_KEY_FILE: keyFile }),
      LOG_LEVEL: 'warn',
      // As npm start and the container run it (with SERVICE_NODE_FLAGS).
      MALLOC_ARENA_MAX: '2',
      MALLOC_MMAP_THRESHOLD_: '131072',
      ...(redis !== undefined ? { REDIS_URL, REDIS_KEY_PREFIX: prefix } : {}),
      REVOCATION_MODE: revocationMode
    }
    log(`seeding ${userCount} users, ${itemCount} items, ${revokedCount} revoked JTIs (${args.store})…`)
    await seed(env, redis, prefix)

    const service = await startProcess(join(ROOT, 'dist', 'src', 'server.js'), env, '/health/ready', SERVICE_NODE_FLAGS)
    children.push(service.child)
    const hello = await startProcess(join(ROOT, 'dist', 'bench', 'hello-server.js'), {}, '/')
    children.push(hello.child)
    // Another service protected by gatehouse/resource-server: it needs Gatehouse's Redis.
    const host = redis === undefined
      ? undefined
      : await startProcess(join(ROOT, 'dist', 'bench', 'resource-server-host.js'), {
        ...(privateKey === undefined ? { JWT_SECRET_KEY: secret } : { JWKS_URL: `${service.url}/.well-known/jwks.json` }),
        REDIS_URL, REDIS_KEY_PREFIX: prefix, REVOCATION_MODE: revocationMode
      }, '/open')
    if (host !== undefined) children.push(host.child)

    const tokens = await login(service.url, 'user1')
    const auth = { authorization: `Bearer ${tokens.access_token}` }
    // Rotation spends each refresh token: every request carries a new one of the same session,
    // minted here with the service's secret or key as the service would mint it.
    const refreshClaims = JSON.parse(Buffer.from(tokens.refresh_token.split('.')[1], 'base64url').toString())
    const mintRefresh = (): string => {
      const input = `${tokens.refresh_token.split('.')[0]}.${Buffer.from(JSON.stringify({ ...refreshClaims, jti: randomUUID() })).toString('base64url')}`
      const signature = privateKey === undefined
        ? createHmac('sha256', secret).update(input).digest()
        : signInput(algorithm as AsymmetricAlgorithm, privateKey, input)
      return `${input}.${signature.toString('base64url')}`
    }
    // Each login as another seeded user: attempts are counted per (username, address) before their
    // hash, in flight included, so one user's 50 concurrent logins from one address would be 429s.
    let loginUser = 1
    const loginRequest: autocannon.Request = {
      method: 'POST',
      path: '/login',
      setupRequest: (request) => {
        loginUser = loginUser % userCount + 1
        return { ...request, headers: json, body: JSON.stringify({ username: `user${loginUser}`, password: PASSWORD }) }
      }
    }
    const json = { 'content-type': 'application/json' }
    const itemPath = `/item/item-${String(Math.ceil(itemCount / 2)).padStart(6, '0')}`

    const all: Scenario[] = [
      { name: 'hello (bare Fastify)', target: 'hello', requests: [{ method: 'GET', path: '/' }] },
      { name: 'GET /items anonymous', target: 'service', requests: [{ method: 'GET', path: '/items' }], target_ratio: 0.75 },
      { name: 'GET /item/:name authenticated', target: 'service', requests: [{ method: 'GET', path: itemPath, headers: auth }], target_ratio: 0.70 },
      {
        name: 'POST /refresh (rotating)',
        target: 'service',
        requests: [{
          method: 'POST',
          path: '/refresh',
          setupRequest: (request) => ({ ...request, headers: { authorization: `Bearer ${mintRefresh()}` } })
        }],
        target_ratio: 0.30
      },
      // What nginx auth_request costs Gatehouse per gated request (the nginx hop comes on top).
      { name: 'GET /auth/verify (auth_request subrequest)', target: 'service', requests: [{ method: 'GET', path: '/auth/verify', headers: auth }] },
      { name: 'POST /login', target: 'service', requests: [loginRequest] },
      {
        name: 'GET /item/:name during a login storm',
        target: 'service',
        requests: [{ method: 'GET', path: itemPath, headers: auth }],
        background: { target: 'service', requests: [loginRequest] }
      },
      ...(host === undefined ? [] : [
        { name: 'host: GET /open, unprotected', target: 'host' as const, requests: [{ method: 'GET' as const, path: '/open' }] },
        {
          name: 'host: GET /protected, resource-server requireAccess (× host /open)',
          target: 'host' as const,
          requests: [{ method: 'GET' as const, path: '/protected', headers: auth }],
          baseline: 'host: GET /open, unprotected',
          target_ratio: 0.80
        }
      ])
    ]
    const only = args.only?.split(',').map((s) => s.trim())
    const scenarios = all.filter((s) => s.target === 'hello' || only === undefined || only.some((o) => s.name.includes(o)) ||
      all.some((other) => other.baseline === s.name && only.some((o) => other.name.includes(o))))

    const processOf = (s: { target: Scenario['target'] }): { child: ChildProcess, url: string } =>
      s.target === 'hello' ? hello : s.target === 'host' ? host! : service
    const urlOf = (s: { target: Scenario['target'] }): string => processOf(s).url
    if (warmup > 0) {
      log(`warm-up: ${warmup} s per scenario`)
      for (const scenario of scenarios) await load(urlOf(scenario), scenario.requests, warmup)
    }

    const redisProcess = await redisPid(redis)
    const samples = new Map<string, Sample[]>(scenarios.map((s) => [s.name, []]))
    for (let round = 1; round <= rounds; round++) {
      for (const scenario of scenarios) {
        log(`round ${round}/${rounds}: ${scenario.name}`)
        const pid = processOf(scenario).child.pid!
        let rss = rssMb(pid)
        const sampler = setInterval(() => { rss = Math.max(rss, rssMb(pid)) }, 200)
        const cpuBefore = cpuUs(pid)
        const redisBefore = redisProcess === undefined ? 0 : cpuUs(redisProcess)
        const background = scenario.background !== undefined
          ? load(urlOf(scenario.background), scenario.background.requests, duration)
          : undefined
        const result = await load(urlOf(scenario), scenario.requests, duration)
        const backgroundResult = await background
        const served = result.requests.total + (backgroundResult?.requests.total ?? 0)
        const serverCpuUs = (cpuUs(pid) - cpuBefore) / served
        // The hello route touches no Redis: whatever Redis spent then was someone else's.
        const redisCpuUs = redisProcess === undefined || scenario.target === 'hello' ? 0 : (cpuUs(redisProcess) - redisBefore) / served
        clearInterval(sampler)
        samples.get(scenario.name)!.push({
          rps: result.requests.average,
          p50: result.latency.p50,
          p97_5: result.latency.p97_5,
          p99: result.latency.p99,
          errors: result.errors + result.timeouts + result.non2xx,
          rss,
          serverCpuUs,
          redisCpuUs
        })
      }
    }
    report(scenarios, samples)
  } finally {
    for (const child of children) child.kill('SIGTERM')
    if (redis !== undefined) {
      await deleteKeys(redis, prefix)
      redis.disconnect()
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Users and items in the database, revoked JTIs in the store, as a busy service would have. */
async function seed (env: Record<string, string>, redis: Redis | undefined, prefix: string): Promise<void> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent' })
  const app = await buildApp({ ...config, signing: loadSigning(config.jwt, () => env.JWT_SECRET_KEY) }, { logger: false })
  try {
    const hash = await hashPassword(PASSWORD)
    await app.db.transaction().execute(async (trx) => {
      for (let i = 1; i <= userCount; i++) {
        await trx.insertInto('users').values({ username: `user${i}`, password_hash: hash, created_at: Date.now() }).execute()
      }
      for (let i = 1; i <= itemCount; i++) {
        await trx.insertInto('items').values({ name: `item-${String(i).padStart(6, '0')}`, price: i / 100 }).execute()
      }
    })
    const expiresAt = Math.floor(Date.now() / 1000) + 3600
    const batch = 10000
    for (let done = 0; done < revokedCount; done += batch) {
      const jtis = Array.from({ length: Math.min(batch, revokedCount - done) }, () => [String(1 + Math.floor(Math.random() * userCount)), randomUUID()])
      if (redis !== undefined) {
        const pipeline = redis.pipeline()
        for (const [sub, jti] of jtis) pipeline.set(`${prefix}{u:${sub}}:t:${jti}`, 1, 'EX', 3600)
        await pipeline.exec()
      }
      // The mirror loads from the SQL record, which holds every revocation in production.
      if (redis === undefined || revocationMode === 'mirror') {
        await app.db.insertInto('revocations')
          .values(jtis.map(([sub, jti]) => ({ key: `{u:${sub}}:t:${jti}`, value: 1, expires_at: expiresAt }))).execute()
      }
    }
  } finally {
    await app.close()
  }
}

async function deleteKeys (redis: Redis, prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10000)
    if (keys.length > 0) await redis.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
}

async function login (url: string, username: string): Promise<{ access_token: string, refresh_token: string }> {
  const response = await fetch(`${url}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD })
  })
  if (!response.ok) throw new Error(`login failed: ${response.status} ${await response.text()}`)
  return await response.json() as { access_token: string, refresh_token: string }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function report (scenarios: Scenario[], samples: Map<string, Sample[]>): void {
  const helloRps = median(samples.get(scenarios[0].name)!.map((s) => s.rps))
  const helloCpuUs = median(samples.get(scenarios[0].name)!.map((s) => s.serverCpuUs))
  const rows = scenarios.map((scenario) => {
    const runs = samples.get(scenario.name)!
    const rps = median(runs.map((s) => s.rps))
    const serverCpuUs = median(runs.map((s) => s.serverCpuUs))
    const redisCpuUs = median(runs.map((s) => s.redisCpuUs))
    // A scenario with a baseline (the host's unprotected route) is measured against it, not hello.
    const baseline = scenario.baseline === undefined ? undefined : samples.get(scenario.baseline)!
    const baselineRps = baseline === undefined ? helloRps : median(baseline.map((s) => s.rps))
    const baselineCpuUs = baseline === undefined ? helloCpuUs : median(baseline.map((s) => s.serverCpuUs + s.redisCpuUs))
    return {
      scenario: scenario.name,
      // What a request costs in CPU, the service's and Redis's, against the hello route's: steady
      // where req/s swings with whatever else shares the machine's cores.
      cpu_ratio: Number((baselineCpuUs / (serverCpuUs + redisCpuUs)).toFixed(2)),
      server_cpu_us: Number(serverCpuUs.toFixed(1)),
      redis_cpu_us: Number(redisCpuUs.toFixed(1)),
      rps: Math.round(rps),
      ratio: Number((rps / baselineRps).toFixed(2)),
      target: scenario.target_ratio ?? null,
      p50_ms: median(runs.map((s) => s.p50)),
      p97_5_ms: median(runs.map((s) => s.p97_5)),
      p99_ms: median(runs.map((s) => s.p99)),
      errors: runs.reduce((sum, s) => sum + s.errors, 0),
      max_rss_mb: Math.round(Math.max(...runs.map((s) => s.rss))),
      rounds_rps: runs.map((s) => Math.round(s.rps))
    }
  })
  const settings = { duration, connections, rounds, users: userCount, items: itemCount, revoked: revokedCount, store: args.store, revocation_mode: revocationMode, algorithm, pinned: hasTaskset }
  if (args.json) {
    console.log(JSON.stringify({ settings, results: rows }, null, 2))
    return
  }
  console.log(`\n${JSON.stringify(settings)}; every figure is the median over the rounds; × is to hello, or to the baseline the scenario names`)
  console.log('| scenario | CPU × hello | target | server µs/req | Redis µs/req | req/s | req/s × hello | p50 ms | p99 ms | errors | max RSS MB |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.scenario} | ${r.cpu_ratio.toFixed(2)} | ${r.target === null ? '' : `≥ ${r.target.toFixed(2)}`} | ${r.server_cpu_us} | ${r.redis_cpu_us} | ${r.rps} | ${r.ratio.toFixed(2)} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.max_rss_mb} |`)
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
