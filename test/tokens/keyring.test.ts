import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { createKeyring, ROTATION_LEEWAY_MS } from '../../src/tokens'
import type { SigningKey } from '../../src/tokens'

function key (kid: string, signsFromMs: number): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { kid, algorithm: 'EdDSA', privateKey, publicKey, signsFromMs, jwk: { kty: 'OKP', kid, alg: 'EdDSA', use: 'sig' } }
}

t.test('the timeline: signing hands over at signs_from; a retired key verifies for the longest lifetime plus the leeway', async (t) => {
  const lifetime = 500
  // Given out of order: the keyring sorts by signs_from.
  const keyring = createKeyring('EdDSA', [key('c', 5000), key('a', 0), key('b', 1000)], lifetime, 0)
  const signer = (now: number): string => keyring.signer(now).key.kid
  const verifies = (kid: string, now: number): boolean => keyring.verificationKey(kid, now) !== undefined
  const published = (now: number): string[] => keyring.published(now).map((jwk) => jwk.kid)

  t.equal(signer(0), 'a')
  t.equal(signer(999), 'a')
  t.equal(signer(1000), 'b', 'b signs from its signs_from')
  t.equal(signer(4999), 'b')
  t.equal(signer(5000), 'c')
  t.same(published(0), ['a', 'b', 'c'], 'keys are published before they sign')

  const aUntil = 1000 + lifetime + ROTATION_LEEWAY_MS
  t.ok(verifies('a', aUntil - 1), 'a verifies up to the last moment a token it signed may live')
  t.notOk(verifies('a', aUntil), 'and not from then on')
  t.same(published(aUntil - 1), ['a', 'b', 'c'])
  t.same(published(aUntil), ['b', 'c'], 'then it leaves the JWKS')
  const bUntil = 5000 + lifetime + ROTATION_LEEWAY_MS
  t.ok(verifies('b', bUntil - 1))
  t.notOk(verifies('b', bUntil))
  t.ok(verifies('c', Number.MAX_SAFE_INTEGER), 'the newest key never retires by itself')
  t.notOk(verifies('d', 0), 'an unknown kid')
  t.notOk(verifies('__proto__', 0))

  t.equal(keyring.kidOfHeader(keyring.signer(1000).headerSegment), 'b')
  t.same(JSON.parse(Buffer.from(keyring.signer(1000).headerSegment, 'base64url').toString()), { alg: 'EdDSA', typ: 'JWT', kid: 'b' })
  t.equal(keyring.kidOfHeader('eyJhbGciOiJIUzI1NiJ9'), undefined)
})

t.test('a key set with nothing signing yet is refused', async (t) => {
  t.throws(() => createKeyring('EdDSA', [key('a', 1000)], 500, 999), { message: /no key signs yet/ })
  t.throws(() => createKeyring('EdDSA', [], 500, 0), { message: /no signing key/ })
  t.doesNotThrow(() => createKeyring('EdDSA', [key('a', 1000)], 500, 1000))
})
