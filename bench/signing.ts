import { createHmac, createPublicKey, createSecretKey, randomBytes } from 'node:crypto'
import { generatePrivateKey, signInput, SIGNING_ALGORITHMS, verifyInput, type AsymmetricAlgorithm } from '../src/tokens'

// What one signature and one verification cost, per algorithm, on a token-sized input: the CPU a
// login (two signatures), a rotating refresh (two) and an uncached verification spend on the key.
// `npm run bench:signing`; figures are printed, never asserted.

const ITERATIONS = Number(process.argv[2] ?? 2000)
const input = `${'h'.repeat(60)}.${'p'.repeat(330)}`

function microseconds (operation: () => unknown): number {
  for (let i = 0; i < Math.min(200, ITERATIONS); i++) operation()
  const start = process.hrtime.bigint()
  for (let i = 0; i < ITERATIONS; i++) operation()
  return Number(process.hrtime.bigint() - start) / ITERATIONS / 1000
}


const secret = createSecretKey(randomBytes(32))
const hmac = microseconds(() => createHmac('sha256', secret).update(input).digest())
console.log(`${ITERATIONS} operations each, on a ${input.length}-character signing input`)
console.log('| algorithm | sign µs | verify µs | signatures/s on one core |')
console.log('|---|---|---|---|')
console.log(`| HS256 | ${hmac.toFixed(1)} | ${hmac.toFixed(1)} | ${Math.round(1e6 / hmac)} |`)
for (const algorithm of SIGNING_ALGORITHMS.filter((name): name is AsymmetricAlgorithm => name !== 'HS256')) {
  const privateKey = generatePrivateKey(algorithm)
  const publicKey = createPublicKey(privateKey)
  const signature = signInput(algorithm, privateKey, input)
  const sign = microseconds(() => signInput(algorithm, privateKey, input))
  const verify = microseconds(() => verifyInput(algorithm, publicKey, input, signature))
  console.log(`| ${algorithm} | ${sign.toFixed(1)} | ${verify.toFixed(1)} | ${Math.round(1e6 / sign)} |`)
}
