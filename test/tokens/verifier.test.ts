import t from 'tap'
import { createTokenVerifier } from '../../src/tokens'
import { flaskClaims, forge, SECRET } from '../helpers'

// One instant for the whole file: claims issued at NOW, checked at NOW, whatever second the test reaches.
const NOW = Date.now()
const claimsAt = (sub: number, overrides: Record<string, unknown> = {}): Record<string, unknown> => {
  const seconds = Math.floor(NOW / 1000)
  return flaskClaims(sub, { iat: seconds, nbf: seconds, exp: seconds + 900, ...overrides })
}

function outcome (verify: ReturnType<typeof createTokenVerifier>, token: string, nowMs: number): string {
  try {
    return `ok ${JSON.stringify(verify(token, nowMs))}`
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`
  }
}

t.test('the verified-token cache never changes an answer', async (t) => {
  const cached = createTokenVerifier({ secret: SECRET, cacheSize: 4 })
  const uncached = createTokenVerifier({ secret: SECRET, cacheSize: 0 })
  const valid = Array.from({ length: 6 }, (_, i) => forge(claimsAt(i + 1)))
  const flipped = valid.map((token) => token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1))
  const corpus = [...valid, ...flipped, forge(claimsAt(1), { secret: 'another secret of thirty-two bytes!' }), 'a.b.c', '']
  // Three passes, so later ones meet cached, evicted and never-cached tokens alike.
  for (let pass = 0; pass < 3; pass++) {
    for (const token of corpus) t.equal(outcome(cached, token, NOW), outcome(uncached, token, NOW))
  }
  t.match(outcome(cached, valid[0], NOW), /^ok /)
  t.equal(outcome(cached, flipped[0], NOW), 'INVALID_TOKEN: Signature verification failed.')
})

t.test('a cached token stops at its exp', async (t) => {
  const verify = createTokenVerifier({ secret: SECRET, cacheSize: 100 })
  const exp = Math.floor(NOW / 1000) + 60
  const token = forge(claimsAt(7, { exp }))
  t.match(outcome(verify, token, NOW), /^ok /, 'verified and cached')
  t.match(outcome(verify, token, exp * 1000 - 1), /^ok /, 'a hit just before exp')
  t.equal(outcome(verify, token, exp * 1000), 'TOKEN_EXPIRED: The token has expired.', 'a hit at exp is expired')
  t.equal(outcome(verify, token, NOW), outcome(createTokenVerifier({ secret: SECRET, cacheSize: 0 }), token, NOW),
    'and it was dropped, not kept')
})

t.test('claims handed out cannot be changed by a handler', async (t) => {
  const verify = createTokenVerifier({ secret: SECRET, cacheSize: 10 })
  const token = forge(claimsAt(8))
  const claims = verify(token, NOW)
  t.ok(Object.isFrozen(claims))
  t.throws(() => { (claims as { sub: string }).sub = '1' })
  t.equal(verify(token, NOW).sub, '8')
})
