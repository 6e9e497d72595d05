import { createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import t from 'tap'
import { bearer, buildTestApp, decode, flaskClaims, forge, SECRET, signUp } from '../helpers'

// A table of bad tokens and headers, each sent to an access route, an optional route and /refresh:
// every one is refused with 401 (never a 2xx, never a 5xx), as RFC 8725 and the OWASP JWT sheet ask.
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const now = (): number => Math.floor(Date.now() / 1000)

function signed (header: unknown, payload: unknown, signer: (input: string) => string): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${signer(input)}`
}

t.test('the forged-token corpus', async (t) => {
  const app = await buildTestApp(t)
  const user = await signUp(app)
  const good = flaskClaims(user.id)
  const goodRefresh = flaskClaims(user.id, { type: 'refresh' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed = generateKeyPairSync('ed25519')
  const hmac = (secret: string | Buffer, algorithm = 'sha256') => (input: string) => createHmac(algorithm, secret).update(input).digest('base64url')
  const rawPayload = (json: string, secret = SECRET): string => signed({ alg: 'HS256', typ: 'JWT' }, json, hmac(secret))
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const login = user.access
  const [h, p, s] = login.split('.')
  const flipBit = (text: string, index: number): string => text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1)

  const corpus: Array<[string, string]> = [
    ['alg none, no signature', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`],
    ['alg None, no signature', `${b64({ alg: 'None' })}.${b64(good)}.`],
    ['alg NONE with a signature', `${b64({ alg: 'NONE' })}.${b64(good)}.${s}`],
    ['alg HS256, empty signature', `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(good)}.`],
    ['no alg at all', signed({ typ: 'JWT' }, good, hmac(SECRET))],
    ['HS384 with the secret', signed({ alg: 'HS384', typ: 'JWT' }, good, hmac(SECRET, 'sha384'))],
    ['HS512 with the secret', signed({ alg: 'HS512', typ: 'JWT' }, good, hmac(SECRET, 'sha512'))],
    ['HS256 header, HS512 signature', signed({ alg: 'HS256', typ: 'JWT' }, good, hmac(SECRET, 'sha512'))],
    ['RS256 signed by an attacker key', signed({ alg: 'RS256', typ: 'JWT' }, good, (i) => sign('sha256', Buffer.from(i), rsa.privateKey).toString('base64url'))],
    ['ES256 signed by an attacker key', signed({ alg: 'ES256', typ: 'JWT' }, good, (i) => sign('sha256', Buffer.from(i), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'))],
    ['EdDSA signed by an attacker key', signed({ alg: 'EdDSA', typ: 'JWT' }, good, (i) => sign(null, Buffer.from(i), ed.privateKey).toString('base64url'))],
    ['HS256 keyed with a public key (key confusion)', signed({ alg: 'HS256', typ: 'JWT' }, good, hmac(publicPem))],
    ['kid pointing at a file', signed({ alg: 'HS256', kid: '../../../../dev/null' }, good, hmac(''))],
    ['kid with SQL', signed({ alg: 'HS256', kid: "' UNION SELECT 'key" }, good, hmac('key'))],
    ['jku to an attacker JWKS', signed({ alg: 'RS256', jku: 'https://attacker.example/jwks.json', kid: 'a' }, good, (i) => sign('sha256', Buffer.from(i), rsa.privateKey).toString('base64url'))],
    ['x5u to an attacker certificate', signed({ alg: 'RS256', x5u: 'https://attacker.example/cert.pem' }, good, (i) => sign('sha256', Buffer.from(i), rsa.privateKey).toString('base64url'))],
    ['embedded jwk of the attacker (RS256)', signed({ alg: 'RS256', jwk: rsa.publicKey.export({ format: 'jwk' }) }, good, (i) => sign('sha256', Buffer.from(i), rsa.privateKey).toString('base64url'))],
    ['embedded oct jwk (HS256 with its key)', signed({ alg: 'HS256', jwk: { kty: 'oct', k: b64('attacker') } }, good, hmac('attacker'))],
    ['crit with an unknown extension, validly signed', signed({ alg: 'HS256', crit: ['exp'], exp: 1 }, good, hmac(SECRET))],
    ['typ other than JWT, validly signed', signed({ alg: 'HS256', typ: 'at+jwt+evil' }, good, hmac(SECRET))],
    ['one segment', h],
    ['two segments', `${h}.${p}`],
    ['four segments', `${login}.${s}`],
    ['five segments (JWE shape)', `${h}.${p}.${s}.${s}.${s}`],
    ['non-base64url characters in the payload', `${h}.${p.slice(0, 10)}*${p.slice(11)}.${s}`],
    ['base64 padding and + /', `${h}.${p}==.${s.replace(/-/g, '+').replace(/_/g, '/')}`],
    ['a payload that is not JSON', rawPayload('not json')],
    ['a JSON array payload', rawPayload(JSON.stringify([good]))],
    ['a null payload', rawPayload('null')],
    ['a string payload', rawPayload('"sub"')],
    ['a header that is not JSON', `${b64('{alg:HS256')}.${p}.${s}`],
    ['missing sub', forge({ ...good, sub: undefined })],
    // An integer sub is an identity (issue 13), a fraction or a negative number is not.
    ['fractional sub', forge({ ...good, sub: user.id + 0.5 })],
    ['negative sub', forge({ ...good, sub: -user.id })],
    ['object sub', forge({ ...good, sub: { id: user.id } })],
    ['missing jti', forge({ ...good, jti: undefined })],
    ['missing type', forge({ ...good, type: undefined })],
    ['missing exp', forge({ ...good, exp: undefined })],
    ['exp as a string', forge({ ...good, exp: String(now() + 900) })],
    ['exp in milliseconds', forge({ ...good, exp: (now() + 900) * 1000 })],
    ['expired', forge({ ...good, exp: now() - 10 })],
    ['nbf in the future', forge({ ...good, nbf: now() + 3600 })],
    ['duplicated sub (the last one another user)', rawPayload(`{"sub":"${user.id}","type":"access","jti":"${randomUUID()}","exp":${now() + 900},"sub":"999999"}`)],
    ['duplicated type, escaped', rawPayload(`{"sub":"${user.id}","type":"refresh","jti":"${randomUUID()}","exp":${now() + 900},"\\u0074ype":"access"}`)],
    ['a huge token', forge({ ...good, pad: 'x'.repeat(9000) })],
    ['a valid token with one bit flipped in the signature', `${h}.${p}.${flipBit(s, 5)}`],
    ['a valid token with one bit flipped in the payload', `${h}.${flipBit(p, 20)}.${s}`],
    ['a valid token of another secret', forge(good, { secret: 'another secret, thirty-two bytes long' })],
    ['a refresh token of another secret', forge(goodRefresh, { secret: 'another secret, thirty-two bytes long' })]
  ]
  const headers: Array<[string, string]> = [
    ...corpus.map(([name, token]): [string, string] => [name, `Bearer ${token}`]),
    ['Bearer and nothing', 'Bearer'],
    ['Bearer and two tokens', `Bearer ${login} ${login}`],
    ['Bearer and a comma', 'Bearer ,,0']
  ]
  t.ok(headers.length >= 40, `${headers.length} bad tokens and headers`)

  const routes = [
    { method: 'GET', url: '/item/x' },
    { method: 'GET', url: '/items' },
    { method: 'POST', url: '/refresh' }
  ] as const
  for (const [name, authorization] of headers) {
    for (const route of routes) {
      const response = await app.inject({ ...route, headers: { authorization } })
      t.equal(response.statusCode, 401, `${name} on ${route.method} ${route.url}`)
      t.match(response.json(), { statusCode: 401, error: /^(invalid_token|token_expired|wrong_token_type)$/ })
    }
  }
  t.equal((await app.inject({ method: 'GET', url: '/items', headers: bearer(login) })).statusCode, 200, 'control: the untouched token works')
  t.equal(decode(login).sub, String(user.id))
})
