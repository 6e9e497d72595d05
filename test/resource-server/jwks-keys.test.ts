import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { signInput } from '../../src/tokens'
import { flaskClaims, redisClient, requireRedis, TEST_REDIS_URL } from '../helpers'
import { startHost } from '../helpers/resource-host'

type Test = tap.Test
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const ecKey = (): KeyObject => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey

function es256 (privateKey: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64(claims)}`
  return `${input}.${signInput('ES256', privateKey, input).toString('base64url')}`
}

function publicJwk (privateKey: KeyObject, kid: string, alg = 'ES256'): Record<string, unknown> {
  return { ...createPublicKey(privateKey).export({ format: 'jwk' }), kid, alg, use: 'sig' }
}

/** A JWKS server whose answer the test changes; `down` makes it answer 500. */
async function jwksServer (t: Test, initial: { keys: unknown[] }, maxAge: number): Promise<{ url: string, set: (jwks: { keys: unknown[] }) => void, down: (value: boolean) => void, hits: () => number }> {
  let jwks = initial
  let failing = false
  let hits = 0
  const server: Server = createServer((_request, response) => {
    hits += 1
    if (failing) { response.writeHead(500).end(); return }
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': `public, max-age=${maxAge}` }).end(JSON.stringify(jwks))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close(); server.closeAllConnections() })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    set: (next) => { jwks = next },
    down: (value) => { failing = value },
    hits: () => hits
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

t.test('the JWKS cannot widen what is accepted', async (t) => {
  if (!await requireRedis(t)) return
  const redis = { redisUrl: TEST_REDIS_URL, redisKeyPrefix: `gatehouse-rs-test:${randomUUID()}:` }
  // As Gatehouse's loss watch writes it: Redis holds every revocation.
  await redisClient(t).set(`${redis.redisKeyPrefix}epoch`, 'restored', 'EX', 600)
  const good = ecKey()
  const secret = 'an-hmac-secret-published-by-mistake-0123456789'
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
  const jwks = await jwksServer(t, {
    keys: [
      publicJwk(good, 'good'),
      { kty: 'oct', k: Buffer.from(secret).toString('base64url'), kid: 'oct', alg: 'HS256' },
      { ...publicJwk(ecKey(), 'p384-claimed'), crv: 'P-384' },
      { ...createPrivateJwk(good), kid: 'with-d', alg: 'ES256' }
    ]
  }, 300)
  const host = await startHost(t, { jwksUrl: jwks.url, ...redis, jwksRefetchIntervalMs: 60_000 })
  const claims = flaskClaims(1)
  t.equal((await host.get('/me', es256(good, 'good', claims))).statusCode, 200)
  t.equal((await host.get('/me', es256(good, 'with-d', claims))).statusCode, 200, 'a private JWK is read for its public half only')
  const hsInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'oct' })}.${b64(claims)}`
  const hs = `${hsInput}.${createHmac('sha256', secret).update(hsInput).digest('base64url')}`
  t.equal((await host.get('/me', hs)).error, 'invalid_token', 'an oct key in the JWKS is never an HMAC secret')
  t.ok(host.logLines().some((line) => line.msg === 'jwks key skipped' && line.kid === 'p384-claimed'), 'a key that does not fit ES256 is skipped')

  const mixed = await jwksServer(t, { keys: [publicJwk(good, 'e'), publicJwk(generateKeyPairSync('ed25519').privateKey, 'd', 'EdDSA')] }, 300)
  await t.rejects(startHost(t, { jwksUrl: mixed.url, ...redis }), /mixes algorithms \(ES256, EdDSA\): set the algorithm option/)
  const pinned = await startHost(t, { jwksUrl: mixed.url, ...redis, algorithm: 'ES256' })
  t.equal((await pinned.get('/me', es256(good, 'e', claims))).statusCode, 200, 'with the algorithm pinned, its keys are used')
  const weak = await jwksServer(t, { keys: [{ ...createPublicKey(rsa1024).export({ format: 'jwk' }), kid: 'r', alg: 'RS256' }] }, 300)
  await t.rejects(startHost(t, { jwksUrl: weak.url, ...redis }), /could not be read/, 'no usable key: no start')
})

t.test('the JWKS is kept as its max-age says, refreshed in the background, kept when the fetch fails', async (t) => {
  if (!await requireRedis(t)) return
  const redis = { redisUrl: TEST_REDIS_URL, redisKeyPrefix: `gatehouse-rs-test:${randomUUID()}:` }
  // As Gatehouse's loss watch writes it: Redis holds every revocation.
  await redisClient(t).set(`${redis.redisKeyPrefix}epoch`, 'restored', 'EX', 600)
  const a = ecKey()
  const b = ecKey()
  const jwks = await jwksServer(t, { keys: [publicJwk(a, 'a')] }, 1)
  const host = await startHost(t, { jwksUrl: jwks.url, ...redis, jwksRefetchIntervalMs: 500, issuer: 'https://auth.example', audience: 'orders' })
  const claims = flaskClaims(2, { iss: 'https://auth.example', aud: ['orders', 'billing'] })
  t.equal((await host.get('/me', es256(a, 'a', claims))).statusCode, 200)
  t.equal((await host.get('/me', es256(a, 'a', { ...claims, iss: 'https://evil.example' }))).error, 'invalid_token', 'another issuer')
  t.equal((await host.get('/me', es256(a, 'a', { ...claims, aud: 'billing' }))).error, 'invalid_token', 'another audience')
  t.equal((await host.get('/me', es256(a, 'a', { ...claims, iss: undefined }))).error, 'invalid_token', 'no issuer')

  // Key a leaves the set: after max-age the background fetch drops it, with no request asking.
  jwks.set({ keys: [publicJwk(b, 'b')] })
  const hitsBefore = jwks.hits()
  await sleep(1600)
  t.ok(jwks.hits() > hitsBefore, 'fetched again by itself once max-age passed')
  t.equal((await host.get('/me', es256(a, 'a', claims))).error, 'invalid_token', 'a key gone from the JWKS stops verifying')
  t.equal((await host.get('/me', es256(b, 'b', claims))).statusCode, 200)

  // Gatehouse unreachable: the keys held keep working.
  jwks.down(true)
  await sleep(1600)
  t.equal((await host.get('/me', es256(b, 'b', claims))).statusCode, 200, 'a failed fetch keeps the keys')
  t.ok(host.logLines().some((line) => line.msg === 'jwks fetch failed: keeping the keys held'))
})

function createPrivateJwk (privateKey: KeyObject): Record<string, unknown> {
  return privateKey.export({ format: 'jwk' }) as Record<string, unknown>
}
