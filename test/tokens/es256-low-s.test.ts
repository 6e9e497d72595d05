import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { bearer, buildTestApp, es256Spelling, signUp, tempDir } from '../helpers'

// An ECDSA signature (r, s) and its twin (r, n − s) verify alike: ES256 accepts only the low-S one,
// so each token has one spelling, and signs only that one.
const signatureOf = (token: string): Buffer => Buffer.from(token.split('.')[2], 'base64url')

function withSignature (token: string, signature: Buffer): string {
  return `${token.split('.').slice(0, 2).join('.')}.${signature.toString('base64url')}`
}

t.test('ES256: every token is signed low-S and verifies; its high-S twin is refused', async (t) => {
  const dir = tempDir(t)
  const keyFile = join(dir, 'signing.pem')
  writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  const app = await buildTestApp(t, { env: { JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY_FILE: keyFile, JWT_SECRET_KEY: '', JWT_VERIFY_CACHE_SIZE: '0' } })
  const user = await signUp(app)

  let highS = 0
  let refused = 0
  for (let i = 0; i < 200; i++) {
    // Each refresh signs a new access token (OpenSSL's nonce differs every time).
    const response = await app.inject({ method: 'POST', url: '/refresh', headers: bearer(user.refresh) })
    const body = response.json()
    user.refresh = body.refresh_token
    const signature = signatureOf(body.access_token)
    if (!es256Spelling(signature).equals(signature)) highS++
    const read = await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(body.access_token) })
    if (read.statusCode !== 200) refused++
  }
  t.equal(highS, 0, 'none of 200 tokens is signed high-S')
  t.equal(refused, 0, 'all 200 verify')

  const token = user.access
  t.equal((await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(token) })).statusCode, 200)
  const twin = withSignature(token, es256Spelling(signatureOf(token), { high: true }))
  const answer = await app.inject({ method: 'GET', url: `/user/${user.id}`, headers: bearer(twin) })
  t.equal(answer.statusCode, 401, 'the high-S twin of a valid token is refused')
  t.equal(answer.json().error, 'invalid_token')
})
