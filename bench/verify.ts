import { randomBytes, randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { createTokenVerifier } from '../src/tokens'

// HS256 verification, µs per token: Gatehouse's hand-written verifier (src/tokens/verifier.ts)
// beside fast-jwt's createVerifier (pinned HS256, required claims, its LRU cache), on tokens shaped
// as ours. A cache hit: the same token again; a cache miss: a new token, then remembered; no
// cache: every call checks the signature. `npm run bench:verify [tokens]`; printed, never asserted.

const TOKENS = Number(process.argv[2] ?? 20000)
const ROUNDS = 5
const ISSUER = 'gatehouse'
const AUDIENCE = 'gatehouse-api'
const secret = randomBytes(32).toString('base64url')
const sign = createSigner({ key: secret, algorithm: 'HS256' })
const nowSeconds = Math.floor(Date.now() / 1000)
const tokens = Array.from({ length: TOKENS }, (_, i) => sign({
  sub: String(1000 + i), type: 'access', jti: randomUUID(), fresh: true, is_admin: false, sid: randomUUID(),
  csrf: randomUUID(), iat: nowSeconds, iat_ms: Date.now(), nbf: nowSeconds, exp: nowSeconds + 900, iss: ISSUER, aud: AUDIENCE
}))

/** The fastest of ROUNDS runs of `run`, in µs per token (the others are the machine's noise). */
function microseconds (run: () => void): number {
  let best = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    run()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / TOKENS / 1000)
  }
  return best
}

type Verify = (token: string) => unknown
interface Contender { name: string, make: (cacheSize: number) => Verify }

const contenders: Contender[] = [
  {
    name: 'hand-written (src/tokens/verifier.ts)',
    make (cacheSize) {
      const verify = createTokenVerifier({ secret, cacheSize })
      return (token) => verify(token, Date.now())
    }
  },
  {
    name: 'fast-jwt createVerifier',
    make (cacheSize) {
      return createVerifier({
        key: secret,
        algorithms: ['HS256'],
        requiredClaims: ['sub', 'type', 'jti', 'exp'],
        allowedIss: ISSUER,
        allowedAud: AUDIENCE,
        cache: cacheSize > 0 ? cacheSize : false
      }) as Verify
    }
  }
]

console.log(`${TOKENS} HS256 tokens of ${tokens[0].length} characters; the best of ${ROUNDS} rounds; node ${process.version}`)
console.log('| verifier | cache hit µs | cache miss µs (new token, then cached) | no cache µs |')
console.log('|---|---|---|---|')
for (const { name, make } of contenders) {
  // A miss: every token new to a fresh verifier whose cache holds them all.
  const miss = microseconds(() => { const verify = make(TOKENS); for (const token of tokens) verify(token) })
  const warm = make(TOKENS)
  for (const token of tokens) warm(token)
  const hit = microseconds(() => { for (const token of tokens) warm(token) })
  const uncached = make(0)
  const none = microseconds(() => { for (const token of tokens) uncached(token) })
  console.log(`| ${name} | ${hit.toFixed(2)} | ${miss.toFixed(2)} | ${none.toFixed(2)} |`)
}
