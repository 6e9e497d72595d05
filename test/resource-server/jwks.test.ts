import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { signInput } from '../../src/tokens'
import { decode, flaskClaims, forge, requireRedis, tempDir, TEST_REDIS_URL } from '../helpers'
import { call } from '../helpers/http-call'
import { startHost } from '../helpers/resource-host'
import { startServer } from '../helpers/server-process'

const newKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

function signEs256 (privateKey: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64(claims)}`
  return `${input}.${signInput('ES256', privateKey, input).toString('base64url')}`
}

// ES256: the host holds no secret; it reads Gatehouse's JWKS over HTTP, and a key rotation at
// Gatehouse reaches it without a restart.
t.test('ES256 through the JWKS: tokens verify, a rotation is picked up, made-up kids cost one fetch per interval', async (t) => {
  if (!await requireRedis(t)) return
  const dir = tempDir(t)
  const keyA = newKey()
  writeFileSync(join(dir, 'a.pem'), keyA.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [{ kid: 'a', file: 'a.pem', signs_from: new Date(Date.now() - 1000).toISOString() }] }))
  const prefix = `gatehouse-rs-test:${randomUUID()}:`
  // A long max-age: only the unknown kid can make the host fetch the JWKS again within the test.
  const gatehouse = await startServer(t, tempDir(t), {
    JWT_ALGORITHM: 'ES256', JWT_KEYS_DIR: dir, JWKS_MAX_AGE_SECONDS: '3600',
    DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix
  })
  const intervalMs = 3000
  const host = await startHost(t, { jwksUrl: `${gatehouse.url}/.well-known/jwks.json`, redisUrl: TEST_REDIS_URL, redisKeyPrefix: prefix, jwksRefetchIntervalMs: intervalMs })
  const jwksRequests = (): number => gatehouse.logLines().filter((line) => line.req?.url === '/.well-known/jwks.json').length
  // Gatehouse's log line may reach us after its answer reached the host: wait for `n`, then a little more.
  async function settledRequests (n: number): Promise<number> {
    for (const deadline = Date.now() + 3000; jwksRequests() < n && Date.now() < deadline;) await new Promise((resolve) => setTimeout(resolve, 50))
    await new Promise((resolve) => setTimeout(resolve, 300))
    return jwksRequests()
  }
  t.equal(await settledRequests(1), 1, 'fetched once at start')

  const credentials = { username: 'carol', password: 'correct horse battery' }
  const id = (await call(gatehouse.url, '/register', { method: 'POST', body: credentials })).json.id as number
  const login = async (): Promise<string> => (await call(gatehouse.url, '/login', { method: 'POST', body: credentials })).json.access_token
  const first = await login()
  t.equal(JSON.parse(Buffer.from(first.split('.')[0], 'base64url').toString()).kid, 'a')
  t.same((await host.get('/me', first)).body, { sub: String(id), is_admin: false }, 'a Gatehouse ES256 token works')

  const claims = flaskClaims(id)
  const cases: Array<[string, string, string]> = [
    ['another key under kid a', signEs256(newKey(), 'a', claims), 'invalid_token'],
    ['an HS256 token', forge(claims), 'invalid_token'],
    ['expired', signEs256(keyA, 'a', { ...claims, iat: 1, nbf: 1, exp: 2 }), 'token_expired'],
    ['a refresh token', signEs256(keyA, 'a', { ...claims, type: 'refresh' }), 'wrong_token_type']
  ]
  for (const [what, token, error] of cases) {
    const atGatehouse = await call(gatehouse.url, `/user/${id}`, { token })
    const atHost = await host.get('/me', token)
    t.equal(atHost.error, error, what)
    t.same([atHost.statusCode, atHost.error, atHost.wwwAuthenticate], [atGatehouse.status, atGatehouse.json.error, atGatehouse.headers['www-authenticate']], `${what}: as at Gatehouse`)
  }

  // Made-up kids, many at once and again: at most one fetch per interval, whatever the tokens say.
  const stranger = newKey()
  const madeUpTokens = Array.from({ length: 40 }, () => signEs256(stranger, randomUUID(), claims))
  await new Promise((resolve) => setTimeout(resolve, intervalMs + 100))
  const started = Date.now()
  for (const batch of [madeUpTokens.slice(0, 20), madeUpTokens.slice(20)]) {
    const answers = await Promise.all(batch.map(async (token) => await host.get('/me', token)))
    t.same([...new Set(answers.map((answer) => answer.error))], ['invalid_token'])
  }
  t.ok(Date.now() - started < intervalMs, 'both batches within one interval')
  t.equal(await settledRequests(2), 2, '40 unknown kids: one fetch')

  // Rotation: key b is published now, signs shortly; Gatehouse reloads on SIGHUP.
  writeFileSync(join(dir, 'b.pem'), newKey().export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  const manifest = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))
  const signsFromMs = Date.now() + 1000
  manifest.keys.push({ kid: 'b', file: 'b.pem', signs_from: new Date(signsFromMs).toISOString() })
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(manifest))
  gatehouse.child.kill('SIGHUP')
  await gatehouse.waitForLog('the reload', (line) => line.msg === 'signing keys reloaded', 5000)
  await new Promise((resolve) => setTimeout(resolve, Math.max(signsFromMs - Date.now(), intervalMs) + 100))
  const rotated = await login()
  t.equal(JSON.parse(Buffer.from(rotated.split('.')[0], 'base64url').toString()).kid, 'b', 'Gatehouse signs with the new key')
  t.equal((await host.get('/me', rotated)).statusCode, 200, 'the host verifies it without a restart')
  t.equal((await host.get('/me', first)).statusCode, 200, 'tokens of the old key still verify')
  t.ok(host.logLines().some((line) => line.msg === 'jwks fetched' && line.kids.includes('b')))

  t.equal((await call(gatehouse.url, '/logout', { method: 'POST', token: rotated })).status, 200)
  t.equal((await host.get('/me', rotated)).error, 'token_revoked', 'revocation is checked with JWKS keys too')
  t.equal(decode(first).type, 'access')
})
