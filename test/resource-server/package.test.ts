import { execFile } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { requireRedis, SECRET, tempDir, TEST_REDIS_URL } from '../helpers'

const run = promisify(execFile)
const ROOT = resolve(__dirname, '..', '..')

// What a user's service sees: the package installed under node_modules, required by its name from
// plain JavaScript, and its types from TypeScript. Uses the build (dist/), as the package ships.
function installed (t: tap.Test): string {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(ROOT, join(dir, 'node_modules', 'gatehouse'), 'dir')
  symlinkSync(join(ROOT, 'node_modules', 'fastify'), join(dir, 'node_modules', 'fastify'), 'dir')
  return dir
}

t.test('require(\'gatehouse/resource-server\') is the plugin, and .default is too', async (t) => {
  if (!await requireRedis(t)) return
  const dir = installed(t)
  writeFileSync(join(dir, 'service.js'), `
const Fastify = require('fastify')
const resourceServer = require('gatehouse/resource-server')
async function host (plugin) {
  const app = Fastify()
  app.register(plugin, { secret: process.env.SECRET, redisUrl: process.env.REDIS_URL })
  app.register(async (app) => { app.get('/me', { onRequest: app.requireAccess }, async (request) => request.user) })
  await app.ready()
  const answer = await app.inject({ url: '/me' })
  await app.close()
  return [answer.statusCode, answer.json().error, answer.headers['www-authenticate']]
}
;(async () => {
  const results = { typeofModule: typeof resourceServer, defaultIsModule: resourceServer.default === resourceServer }
  results.asModule = await host(require('gatehouse/resource-server'))
  results.asDefault = await host(require('gatehouse/resource-server').default)
  console.log(JSON.stringify(results))
})().catch((error) => { console.error(error); process.exit(1) })
`)
  const { stdout } = await run(process.execPath, ['service.js'], { cwd: dir, env: { PATH: process.env.PATH, SECRET, REDIS_URL: TEST_REDIS_URL } })
  t.same(JSON.parse(stdout), {
    typeofModule: 'function',
    defaultIsModule: true,
    asModule: [401, 'authorization_required', 'Bearer'],
    asDefault: [401, 'authorization_required', 'Bearer']
  })
})

t.test('TypeScript finds the types through the package exports', async (t) => {
  const dir = installed(t)
  writeFileSync(join(dir, 'service.ts'), `
import Fastify from 'fastify'
import resourceServer = require('gatehouse/resource-server')
const options: resourceServer.ResourceServerOptions = { jwksUrl: 'https://auth.example/.well-known/jwks.json', redisUrl: 'redis://redis:6379' }
const app = Fastify()
app.register(resourceServer, options)
app.register(resourceServer.default, options)
app.get('/me', { onRequest: app.requireAccess }, async (request) => ({ sub: request.user?.sub, admin: request.user?.is_admin === true }))
// @ts-expect-error: an unknown option is a type error
app.register(resourceServer, { secrets: 'x' })
`)
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, skipLibCheck: true, types: [] },
    files: ['service.ts']
  }))
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const result = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir }).then(() => 'ok', (error: { stdout: string }) => error.stdout)
  t.equal(result, 'ok')
})
