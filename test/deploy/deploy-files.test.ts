import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { KEEP_ALIVE_TIMEOUT_MS } from '../../src/app'
import { EnvSchema, loadConfig } from '../../src/config'
import { buildTestApp } from '../helpers'
import { GATEHOUSE_CONF, NGINX_CONF } from '../helpers/nginx'

// No Docker engine runs here: what can be checked without one is that the deployment files agree
// with the app and with each other. The nginx tests run deploy/nginx/ itself (nginx-config.test.ts
// checks it with nginx -t).
const root = resolve(__dirname, '..', '..')
const compose = parse(readFileSync(resolve(root, 'deploy', 'compose.yaml'), 'utf8'), { merge: true })
const nginxConf = readFileSync(GATEHOUSE_CONF, 'utf8')
const dockerfile = readFileSync(resolve(root, 'Dockerfile'), 'utf8')

// What every instance must agree on, or tokens and revocations would differ between them.
const SHARED = ['JWT_SECRET_KEY', 'DATABASE_URL', 'REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_KEY_PREFIX',
  'JWT_ACCESS_TOKEN_EXPIRES', 'JWT_REFRESH_TOKEN_EXPIRES']

/** Compose's `${NAME:?message}` and `${NAME:-default}` with stand-in values, as an operator would set them. */
function interpolate (value: unknown): string {
  return String(value).replace(/\$\{(\w+)(?::[?-]([^}]*))?\}/g, (_match, name: string) =>
    name === 'JWT_SECRET_KEY' ? 'x'.repeat(32) : '')
}

const services: Record<string, any> = compose.services
const instances = Object.entries(services).filter(([, service]) => service.build !== undefined)

t.test('compose.yaml: nginx, PostgreSQL, Redis and at least two Gatehouse instances', async (t) => {
  t.ok(instances.length >= 2, `${instances.length} Gatehouse instances`)
  for (const name of ['nginx', 'postgres', 'redis']) t.ok(services[name] !== undefined, `a ${name} service`)
})

t.test('every instance\'s environment is one the app accepts, and the shared settings are shared', async (t) => {
  const known = new Set(Object.keys(EnvSchema.properties))
  for (const [name, service] of instances) {
    const env: Record<string, string> = Object.fromEntries(Object.entries(service.environment).map(([key, value]) => [key, interpolate(value)]))
    t.same(Object.keys(env).filter((key) => !known.has(key)), [], `${name}: no setting the app does not know`)
    const config = loadConfig(env)
    t.equal(config.database.kind, 'postgres', `${name}: PostgreSQL`)
    t.ok(config.redis !== undefined, `${name}: Redis, shared by the instances`)
    t.ok(config.trustProxy.includes(services.nginx.networks.default.ipv4_address), `${name}: trusts nginx's address`)
    t.ok(Number.parseInt(service.stop_grace_period) * 1000 > config.shutdown.timeoutMs,
      `${name}: Docker's stop grace period outlasts SHUTDOWN_TIMEOUT_MS`)
  }
  const [first, ...others] = instances
  for (const [name, service] of others) {
    for (const key of SHARED) t.equal(service.environment[key], first[1].environment[key], `${name} has ${first[0]}'s ${key}`)
  }
})

t.test('nginx: plain configuration mounted over the image\'s, its upstreams the instances', async (t) => {
  t.same(services.nginx.volumes, ['./nginx/nginx.conf:/etc/nginx/nginx.conf:ro', './nginx/gatehouse.conf:/etc/nginx/gatehouse.conf:ro'],
    'the complete nginx.conf in the image\'s place, and gatehouse.conf beside it, where its include finds it')
  t.match(readFileSync(NGINX_CONF, 'utf8'), /^\s*include gatehouse\.conf;$/m, 'nginx.conf includes gatehouse.conf')
  t.equal(services.nginx.environment, undefined, 'no environment: nothing is filled in at start')
  const upstream = /upstream gatehouse \{([\s\S]*?)\n\}/.exec(nginxConf)?.[1] ?? ''
  const servers = [...upstream.matchAll(/^\s*server\s+([^\s;]+)/gm)].map((match) => match[1])
  t.same(servers.sort(), instances.map(([name]) => `${name}:3000`).sort(), 'one upstream server per instance, on the image\'s port')
})

t.test('nginx closes idle upstream connections before Gatehouse does', async (t) => {
  const upstream = /upstream gatehouse \{([\s\S]*?)\n\}/.exec(nginxConf)?.[1] ?? ''
  const seconds = Number(/keepalive_timeout\s+(\d+)s;/.exec(upstream)?.[1])
  t.ok(seconds > 0, `nginx's upstream keepalive_timeout is ${seconds} s`)
  t.ok(seconds * 1000 < KEEP_ALIVE_TIMEOUT_MS, `below Gatehouse's keep-alive timeout, ${KEEP_ALIVE_TIMEOUT_MS} ms`)
  const app = await buildTestApp(t)
  t.equal(app.server.keepAliveTimeout, KEEP_ALIVE_TIMEOUT_MS, 'which is the server\'s')
})

t.test('Dockerfile: multi-stage, production dependencies only, non-root, tini, HOST=0.0.0.0, health check', async (t) => {
  t.same(dockerfile.match(/^FROM \S+/gm), ['FROM node:24-bookworm-slim', 'FROM node:24-bookworm-slim'], 'a build stage and a final stage, on Node 24 LTS')
  const build = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '))
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  t.match(build, /RUN npm ci [^\n]*&& npm prune --omit=dev/, 'npm ci builds (prepare), then the dev dependencies go')
  t.match(final, /^COPY --from=build \/app\/node_modules \.\/node_modules$/m, 'the final stage takes production dependencies only')
  t.notMatch(final, /npm (ci|install)/, 'and installs nothing (its prepare would need the compiler)')
  t.match(final, /^USER node$/m, 'and runs as the unprivileged node user')
  t.match(final, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m, 'under tini, which passes signals on')
  t.match(final, /^ENV .*HOST=0\.0\.0\.0/m, 'listening on every interface')
  t.match(final, /^HEALTHCHECK [\s\S]*\/health\/live/m, 'checked on /health/live')
  t.match(final, /^CMD \["node", "--max-semi-space-size=4", "dist\/src\/server\.js"\]$/m, 'running the built server, as the tests do')
})

t.test('the image and npm start run the service with the same memory settings (docs/performance.md#memory)', async (t) => {
  const start = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).scripts.start as string
  t.equal(start, 'exec env MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=4 dist/src/server.js')
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  t.match(final, /^ENV .*MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072$/m, 'the same malloc settings')
  t.match(final, /^CMD \["node", "--max-semi-space-size=4", /m, 'the same V8 young generation')
})
