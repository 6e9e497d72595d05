import { createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildApp, type App } from '../../src/app'
import { loadConfig } from '../../src/config'
import { loadSigning } from '../../src/tokens'
import { bearer, buildTestApp, decode, es256Spelling, flaskClaims, forge, signUp, tempDir, testConfig, testDatabaseUrl } from '../helpers'
import { startServer } from '../helpers/server-process'

type Test = tap.Test
type Algorithm = 'RS256' | 'ES256' | 'EdDSA'
const ALGORITHMS: Algorithm[] = ['RS256', 'ES256', 'EdDSA']

function newKeyPair (algorithm: Algorithm | 'RS256-1024' | 'ES384'): { privateKey: KeyObject, publicKey: KeyObject } {
  switch (algorithm) {
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: 2048 })
    case 'RS256-1024': return generateKeyPairSync('rsa', { modulusLength: 1024 })
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'ES384': return generateKeyPairSync('ec', { namedCurve: 'P-384' })
    case 'EdDSA': return generateKeyPairSync('ed25519')
  }
}

function writePrivateKey (dir: string, name: string, privateKey: KeyObject): string {
  const file = join(dir, name)
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return file
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A compact JWS signed by hand with any key and header: a foreign or forged token. */
function signToken (algorithm: Algorithm, privateKey: KeyObject, header: Record<string, unknown>, claims: unknown): string {
  const input = `${b64({ alg: algorithm, typ: 'JWT', ...header })}.${b64(claims)}`
  const digest = algorithm === 'EdDSA' ? null : 'sha256'
  const signature = sign(digest, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${(algorithm === 'ES256' ? es256Spelling(signature) : signature).toString('base64url')}`
}

function header (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())
}

async function keySet (app: App): Promise<{ keys: Array<Record<string, string>> }> {
  const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  if (response.statusCode !== 200) throw new Error(`jwks answered ${response.statusCode}`)
  return response.json()
}

const jose = async () => await import('jose')

/** Verifies with the independent `jose` library and nothing but the published key set. */
async function joseVerify (token: string, jwks: { keys: Array<Record<string, string>> }, algorithm: Algorithm): Promise<Record<string, unknown>> {
  const { createLocalJWKSet, jwtVerify } = await jose()
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { algorithms: [algorithm] })
  return payload
}

async function getUser (app: App, id: number, token: string): Promise<{ statusCode: number, error?: string }> {
  const response = await app.inject({ method: 'GET', url: `/user/${id}`, headers: bearer(token) })
  return { statusCode: response.statusCode, error: response.statusCode === 200 ? undefined : response.json().error }
}

for (const algorithm of ALGORITHMS) {
  t.test(`${algorithm}: tokens carry a kid, verify here and with jose from the JWKS alone`, async (t) => {
    const dir = tempDir(t)
    const { privateKey, publicKey } = newKeyPair(algorithm)
    const keyFile = writePrivateKey(dir, 'signing.pem', privateKey)
    const app = await buildTestApp(t, { env: { JWT_ALGORITHM: algorithm, JWT_PRIVATE_KEY_FILE: keyFile, JWT_SECRET_KEY: '' } })
    const user = await signUp(app)

    const kid = header(user.access).kid as string
    t.same(header(user.access), { alg: algorithm, typ: 'JWT', kid })
    t.same(header(user.refresh), { alg: algorithm, typ: 'JWT', kid })
    const { calculateJwkThumbprint } = await jose()
    t.equal(kid, await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as never), 'the kid is the RFC 7638 thumbprint')

    const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
    t.equal(response.statusCode, 200)
    t.equal(response.headers['cache-control'], 'public, max-age=300')
    t.equal(response.headers['access-control-allow-origin'], '*')
    const jwks = response.json()
    t.equal(jwks.keys.length, 1)
    t.match(jwks.keys[0], { kid, alg: algorithm, use: 'sig' })
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) t.notOk(member in jwks.keys[0], `no private member ${member}`)
    const unchanged = await app.inject({ method: 'GET', url: '/.well-known/jwks.json', headers: { 'if-none-match': response.headers.etag as string } })
    t.equal(unchanged.statusCode, 304)

    t.equal((await joseVerify(user.access, jwks, algorithm)).sub, String(user.id))
    t.equal((await joseVerify(user.refresh, jwks, algorithm)).type, 'refresh')

    t.equal((await getUser(app, user.id, user.access)).statusCode, 200)
    const refreshed = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
    t.equal(refreshed.statusCode, 200)
    const access = refreshed.json().access_token as string
    t.equal((await getUser(app, user.id, access)).statusCode, 200)
    t.equal((await joseVerify(access, jwks, algorithm)).fresh, false)
    t.equal((await app.inject({ method: 'GET', url: '/auth/verify', headers: bearer(access) })).statusCode, 204)

    // A token jose accepts is still refused here once revoked: the JWKS says who signed, not who logged out.
    t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(access) })).statusCode, 200)
    t.same(await getUser(app, user.id, access), { statusCode: 401, error: 'token_revoked' })

    // Our key, but a token this service did not sign: refused.
    const other = newKeyPair(algorithm)
    const claims = flaskClaims(user.id)
    t.equal((await getUser(app, user.id, signToken(algorithm, privateKey, { kid }, claims))).statusCode, 200, 'the real key signs a good token')
    const refusals: Array<[string, string]> = [
      [signToken(algorithm, other.privateKey, { kid }, claims), 'another key under our kid'],
      [signToken(algorithm, other.privateKey, { kid: 'attacker', jwk: other.publicKey.export({ format: 'jwk' }) }, claims), 'a key embedded in the header'],
      [signToken(algorithm, other.privateKey, { kid: 'attacker', jku: 'http://127.0.0.1:1/jwks.json', x5u: 'http://127.0.0.1:1/cert' }, claims), 'a key set to fetch'],
      [signToken(algorithm, privateKey, {}, claims), 'no kid'],
      [signToken(algorithm, privateKey, { kid: 'unknown' }, claims), 'an unknown kid'],
      [signToken(algorithm, privateKey, { kid: 42 }, claims), 'a kid that is no string'],
      [forge(claims, { secret: publicKey.export({ type: 'spki', format: 'pem' }) as string, header: { alg: 'HS256', typ: 'JWT', kid } }), 'HS256 keyed with the public key PEM'],
      [forge(claims, { secret: JSON.stringify(jwks.keys[0]), header: { alg: 'HS256', typ: 'JWT', kid } }), 'HS256 keyed with the JWK'],
      [forge(claims, { header: { alg: 'none', typ: 'JWT', kid } }).replace(/[^.]+$/, ''), 'alg none'],
      [signToken(algorithm, privateKey, { kid, crit: ['exp'] }, claims), 'a critical extension']
    ]
    for (const [other, algorithmOf] of ALGORITHMS.filter((name) => name !== algorithm).map((name) => [newKeyPair(name), name] as const)) {
      refusals.push([signToken(algorithmOf, other.privateKey, { kid }, claims), `${algorithmOf} under our kid`])
    }
    for (const [token, what] of refusals) {
      t.same(await getUser(app, user.id, token), { statusCode: 401, error: 'invalid_token' }, what)
    }
    // One spelling per signature: padding or a DER-encoded ECDSA signature is not ours.
    const good = signToken(algorithm, privateKey, { kid }, claims)
    t.same(await getUser(app, user.id, `${good}=`), { statusCode: 401, error: 'invalid_token' }, 'a padded signature')
    if (algorithm === 'ES256') {
      const [head, body] = good.split('.')
      const der = sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url')
      t.same(await getUser(app, user.id, `${head}.${body}.${der}`), { statusCode: 401, error: 'invalid_token' }, 'a DER signature')
    }
  })
}

t.test('HS256 publishes no key and ignores a kid, as before', async (t) => {
  const app = await buildTestApp(t)
  t.same(await keySet(app), { keys: [] })
  const user = await signUp(app)
  t.same(header(user.access), { alg: 'HS256', typ: 'JWT' })
  t.equal((await getUser(app, user.id, forge(flaskClaims(user.id), { header: { alg: 'HS256', typ: 'JWT', kid: 'anything' } }))).statusCode, 200)
  const { privateKey } = newKeyPair('ES256')
  t.same(await getUser(app, user.id, signToken('ES256', privateKey, { kid: 'x' }, flaskClaims(user.id))), { statusCode: 401, error: 'invalid_token' })
})

interface ManifestKey { kid: string, privateKey: KeyObject, signsFromMs: number }

function writeKeysDir (t: Test, keys: ManifestKey[]): string {
  const dir = tempDir(t)
  const manifest = keys.map(({ kid, privateKey, signsFromMs }) => {
    writePrivateKey(dir, `${kid}.pem`, privateKey)
    return { kid, file: `${kid}.pem`, signs_from: new Date(signsFromMs).toISOString() }
  })
  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: manifest }))
  return dir
}

for (const algorithm of ALGORITHMS) {
  t.test(`${algorithm} rotation: a key is published before it signs, and a retired key verifies until its tokens have expired`, async (t) => {
    const hour = 3600_000
    const now = Date.now()
    // Refresh tokens live an hour, so a retired key verifies for an hour and a minute after its successor starts.
    const gone = { kid: 'gone', ...newKeyPair(algorithm), signsFromMs: now - 72 * hour }
    const old = { kid: 'old', ...newKeyPair(algorithm), signsFromMs: now - 48 * hour }
    const current = { kid: 'current', ...newKeyPair(algorithm), signsFromMs: now - hour / 2 }
    // Counted from after the (slow, for RSA) key generation.
    const next = { kid: 'next', ...newKeyPair(algorithm), signsFromMs: 0 }
    next.signsFromMs = Date.now() + 2000
    const dir = writeKeysDir(t, [current, gone, next, old])
    const env = { JWT_ALGORITHM: algorithm, JWT_KEYS_DIR: dir, JWT_SECRET_KEY: '', JWT_REFRESH_TOKEN_EXPIRES: '3600' }
    // Two instances on one database and the same keys, as behind nginx.
    const databaseUrl = await testDatabaseUrl(t, 'sqlite')
    const first = await buildTestApp(t, { databaseUrl, env })
    const second = await buildTestApp(t, { databaseUrl, env })

    const before = await keySet(first)
    t.same(before.keys.map((key) => key.kid).sort(), ['current', 'next', 'old'], 'the next key is published; the long-retired one is not')
    t.same(await keySet(second), before)

    const user = await signUp(first)
    // The signer is the one of the token's issue time: on a slow machine the test may reach the switch early.
    t.equal(header(user.access).kid, decode(user.access).iat_ms < next.signsFromMs ? 'current' : 'next', 'signed by the key of its time')
    t.equal((await getUser(second, user.id, user.access)).statusCode, 200, 'the other instance verifies it')
    t.equal((await joseVerify(user.access, before, algorithm)).sub, String(user.id))

    const claims = flaskClaims(user.id)
    t.equal((await getUser(first, user.id, signToken(algorithm, old.privateKey, { kid: 'old' }, claims))).statusCode, 200,
      'a retired key still verifies while its tokens may live')
    t.same(await getUser(first, user.id, signToken(algorithm, gone.privateKey, { kid: 'gone' }, claims)),
      { statusCode: 401, error: 'invalid_token' }, 'a key retired longer than any token lives verifies nothing')

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next.signsFromMs - Date.now()) + 50))
    const later = await signUp(second)
    t.equal(header(later.access).kid, 'next', 'the next key signs from its time on, without a restart')
    const refreshed = await first.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
    t.equal(header(refreshed.json().access_token).kid, 'next')
    t.equal((await getUser(first, later.id, later.access)).statusCode, 200)
    t.equal((await getUser(second, user.id, refreshed.json().access_token)).statusCode, 200)
    t.equal((await joseVerify(later.access, before, algorithm)).sub, String(later.id), 'a verifier holding the JWKS fetched before the switch verifies the new key')
    const older = await first.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(forgeWith(current.privateKey, 'current', user.id)) })
    t.equal(older.statusCode, 200, 'the key just retired still verifies')
    t.same((await keySet(first)).keys.map((key) => key.kid).sort(), ['current', 'next', 'old'])

    function forgeWith (privateKey: KeyObject, kid: string, sub: number): string {
      return signToken(algorithm, privateKey, { kid }, flaskClaims(sub))
    }
  })
}

t.test('a single key file needs no manifest; settings that cannot work are refused at start', async (t) => {
  const dir = tempDir(t)
  const es = writePrivateKey(dir, 'es.pem', newKeyPair('ES256').privateKey)
  const weakRsa = writePrivateKey(dir, 'rsa1024.pem', newKeyPair('RS256-1024').privateKey)
  const p384 = writePrivateKey(dir, 'p384.pem', newKeyPair('ES384').privateKey)
  const publicOnly = join(dir, 'public.pem')
  writeFileSync(publicOnly, createPublicKey(newKeyPair('ES256').privateKey).export({ type: 'spki', format: 'pem' }))

  const configProblem = (env: Record<string, string>): string => {
    try {
      loadConfig({ DATABASE_URL: 'sqlite::memory:', ...env })
      return ''
    } catch (error) {
      return (error as Error).message
    }
  }
  t.match(configProblem({ JWT_ALGORITHM: 'ES256' }), 'JWT_ALGORITHM ES256 needs one of them')
  t.match(configProblem({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY_FILE: es, JWT_KEYS_DIR: dir }), 'not both')
  t.match(configProblem({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY_FILE: es, JWT_SECRET_KEY: 'x'.repeat(40) }), 'JWT_SECRET_KEY: not used')
  t.match(configProblem({ JWT_PRIVATE_KEY_FILE: es }), 'JWT_PRIVATE_KEY_FILE: only for')
  t.match(configProblem({ JWT_ALGORITHM: 'PS256' }), 'JWT_ALGORITHM: must be one of HS256, RS256, ES256, EdDSA')

  const keyProblem = (settings: { algorithm: Algorithm, privateKeyFile?: string, keysDir?: string }): string => {
    try {
      loadSigning(settings, () => '')
      return ''
    } catch (error) {
      return (error as Error).message
    }
  }
  t.equal(keyProblem({ algorithm: 'ES256', privateKeyFile: es }), '')
  t.match(keyProblem({ algorithm: 'RS256', privateKeyFile: es }), 'RS256 needs an RSA key, not ec')
  t.match(keyProblem({ algorithm: 'RS256', privateKeyFile: weakRsa }), 'at least 2048 bits, not 1024')
  t.match(keyProblem({ algorithm: 'ES256', privateKeyFile: p384 }), 'ES256 needs the P-256 curve')
  t.match(keyProblem({ algorithm: 'EdDSA', privateKeyFile: es }), 'EdDSA needs an Ed25519 key')
  t.match(keyProblem({ algorithm: 'ES256', privateKeyFile: publicOnly }), 'holds no PEM private key')
  t.match(keyProblem({ algorithm: 'ES256', privateKeyFile: join(dir, 'missing.pem') }), 'cannot read the key file')
  t.notMatch(keyProblem({ algorithm: 'RS256', privateKeyFile: es }), /PRIVATE KEY/, 'no key material in messages')

  const manifestProblem = (manifest: unknown): string => {
    writeFileSync(join(dir, 'keys.json'), JSON.stringify(manifest))
    return keyProblem({ algorithm: 'ES256', keysDir: dir })
  }
  t.match(manifestProblem({ keys: [{ kid: 'a', file: 'es.pem' }, { kid: 'a', file: 'es.pem', signs_from: '2026-01-01T00:00:00Z' }] }), 'kid a is listed twice')
  t.match(manifestProblem({ keys: [{ kid: 'a', file: '../es.pem' }] }), 'must lie inside')
  t.match(manifestProblem({ keys: [{ kid: 'a', file: 'es.pem' }, { kid: 'b', file: 'es.pem' }] }), 'two keys start signing at the start')
  t.match(manifestProblem({ keys: [{ kid: 'a b', file: 'es.pem' }] }), '/keys/0/kid')
  t.match(manifestProblem({ keys: [{ kid: 'a', file: 'es.pem', signs_from: 'tomorrow' }] }), '/keys/0/signs_from')
  t.match(manifestProblem({ keys: [] }), '/keys')
  t.equal(manifestProblem({ keys: [{ kid: 'a', file: 'es.pem' }] }), '')

  writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [{ kid: 'a', file: 'es.pem', signs_from: new Date(Date.now() + 3600_000).toISOString() }] }))
  const config = testConfig(t, { env: { JWT_ALGORITHM: 'ES256', JWT_KEYS_DIR: dir, JWT_SECRET_KEY: '' } })
  await t.rejects(buildApp(config, { logger: false }), { message: /no key signs yet/ })
})

t.test('malformed, truncated and expired EdDSA tokens fail with their error codes', async (t) => {
  const dir = tempDir(t)
  const { privateKey } = newKeyPair('EdDSA')
  const app = await buildTestApp(t, { env: { JWT_ALGORITHM: 'EdDSA', JWT_PRIVATE_KEY_FILE: writePrivateKey(dir, 'k.pem', privateKey), JWT_SECRET_KEY: '' } })
  const user = await signUp(app)
  const kid = header(user.access).kid as string
  const claims = decode(user.access)
  for (const token of ['a.b.c', `${user.access.split('.')[0]}.e30.`, `${user.access.split('.')[0]}.${b64(claims)}.AAAA`, user.access + 'x']) {
    t.same(await getUser(app, user.id, token), { statusCode: 401, error: 'invalid_token' }, token.slice(-12))
  }
  t.same(await getUser(app, user.id, signToken('EdDSA', privateKey, { kid }, { ...claims, jti: randomUUID(), exp: 1 })), { statusCode: 401, error: 'token_expired' })
})

t.test('SIGHUP reloads the keys: a key added to keys.json is published at once; a broken set is refused and the old one kept', async (t) => {
  const dir = writeKeysDir(t, [{ kid: 'a', ...newKeyPair('ES256'), signsFromMs: Date.now() - 1000 }])
  const server = await startServer(t, tempDir(t), {
    JWT_ALGORITHM: 'ES256', JWT_KEYS_DIR: dir, DATABASE_URL: `sqlite:${join(tempDir(t), 'db.sqlite')}`
  })
  const kids = async (): Promise<string[]> => {
    const response = await fetch(`${server.url}/.well-known/jwks.json`)
    return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid).sort()
  }
  const json = { 'content-type': 'application/json' }
  const credentials = JSON.stringify({ username: 'alice', password: 'correct horse battery' })
  t.equal((await fetch(`${server.url}/register`, { method: 'POST', headers: json, body: credentials })).status, 201)
  const login = await (await fetch(`${server.url}/login`, { method: 'POST', headers: json, body: credentials })).json() as { access_token: string }
  t.same(await kids(), ['a'])

  const manifest = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))
  writePrivateKey(dir, 'b.pem', newKeyPair('ES256').privateKey)
  manifest.keys.push({ kid: 'b', file: 'b.pem', signs_from: new Date(Date.now() + 3600_000).toISOString() })
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(manifest))
  server.child.kill('SIGHUP')
  await server.waitForLog('the reload', (line) => line.msg === 'signing keys reloaded', 5000)
  t.same(await kids(), ['a', 'b'], 'the new key is published without a restart')
  t.equal((await fetch(`${server.url}/user/1`, { headers: bearer(login.access_token) })).status, 200, 'tokens signed before the reload still verify')

  manifest.keys.push({ kid: 'b', file: 'b.pem' })
  writeFileSync(join(dir, 'keys.json'), JSON.stringify(manifest))
  server.child.kill('SIGHUP')
  const refused = await server.waitForLog('the refusal', (line) => line.msg === 'signing keys not reloaded: keeping the loaded ones', 5000)
  t.match(refused.reason, 'kid b is listed twice')
  t.same(await kids(), ['a', 'b'])
  t.equal((await fetch(`${server.url}/user/1`, { headers: bearer(login.access_token) })).status, 200)
  t.equal(server.child.exitCode, null, 'still running')
})
