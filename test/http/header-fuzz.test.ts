import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import { buildTestApp, signUp } from '../helpers'
import { rawGet, rawRequest, type RawAnswer } from '../helpers/raw-http'

// Every header the service reads, fuzzed with arbitrary bytes, Latin-1 and UTF-8 over a real
// socket (inject cannot send raw bytes): whatever arrives, the answer is never a 5xx and every
// error keeps the contract, Node's own parse errors included.
const RUNS = 250
const HEADERS = ['Authorization', 'Cookie', 'X-CSRF-TOKEN', 'X-Request-Id', 'X-Forwarded-For', 'X-Original-Method'] as const

function assertContract (answer: RawAnswer, what: string): void {
  if (answer.status === 0) throw new Error(`${what}: no HTTP answer (${answer.body})`)
  if (answer.status >= 500) throw new Error(`${what}: ${answer.status} ${answer.body}`)
  if (answer.status >= 400) {
    const body = answer.json
    if (body?.statusCode !== answer.status || !/^[a-z_]+$/.test(body.error) || typeof body.message !== 'string') {
      throw new Error(`${what}: error body off contract: ${answer.status} ${answer.body}`)
    }
  }
}

t.test('every header the service reads, fuzzed over a real socket', async (t) => {
  // Cookies and headers both read, CSRF on, and the peer a trusted proxy, so X-Forwarded-For and
  // X-Request-Id are parsed rather than ignored.
  const app = await buildTestApp(t, { store: 'sql', env: { JWT_TOKEN_LOCATION: 'headers,cookies', TRUST_PROXY: '127.0.0.1' } })
  const user = await signUp(app)
  const loggedIn = await app.inject({ method: 'POST', url: '/login', payload: { username: user.username, password: user.password } })
  const cookies = Object.fromEntries(loggedIn.cookies.map(({ name, value }) => [name, value]))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo

  const latin1 = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 120 })
    .map((text) => Buffer.from(text, 'latin1'))
  const utf8 = fc.string({ unit: 'grapheme', maxLength: 60 }).map((text) => Buffer.from(text, 'utf8'))
  const bytes = fc.uint8Array({ maxLength: 120 }).map((array) => Buffer.from(array))
  const fuzzed = fc.oneof(latin1, utf8, bytes)
  // Shapes that get past the first checks: a Bearer header, a real cookie, a CSRF value of the right length.
  const shaped = (header: typeof HEADERS[number]) => {
    switch (header) {
      case 'Authorization': return fuzzed.map((value) => Buffer.concat([Buffer.from('Bearer '), value]))
      case 'Cookie': return fuzzed.map((value) => Buffer.concat([Buffer.from(`access_token_cookie=${cookies.access_token_cookie}; csrf=`), value]))
      case 'X-CSRF-TOKEN': return fc.oneof(fc.uint8Array({ minLength: 36, maxLength: 36 }).map((a) => Buffer.from(a)), fc.constant(Buffer.alloc(36, 0xe9)))
      case 'X-Forwarded-For': return fuzzed.map((value) => Buffer.concat([value, Buffer.from(', 127.0.0.1')]))
      default: return fuzzed
    }
  }
  const routes = [
    ['GET', '/items'], ['GET', '/auth/verify'], ['POST', '/logout'], ['PUT', '/item/fuzz'], ['POST', '/refresh'], ['GET', `/user/${user.id}`]
  ] as const

  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.subarray([...HEADERS], { minLength: 1 }).chain((names) =>
      fc.tuple(fc.constant(names), fc.tuple(...names.map((name) => fc.oneof(fuzzed, shaped(name)))))),
    fc.constantFrom(...routes),
    fc.boolean(),
    async ([names, values], [method, path], withCookie) => {
      runs++
      const headers: Array<[string, Buffer | string]> = names.map((name, index) => [name, values[index]])
      if (withCookie && !names.includes('Cookie')) headers.push(['Cookie', `access_token_cookie=${cookies.access_token_cookie}`])
      const answer = await rawRequest(port, rawGet(path, headers, method))
      assertContract(answer, `${method} ${path} with ${headers.map(([name, value]) => `${name}: ${Buffer.from(value as Buffer).toString('hex')}`).join(', ')}`)
    }), { numRuns: RUNS })
  t.equal(runs, RUNS, `${RUNS} requests tried`)

  const alive = await rawRequest(port, rawGet('/health/live', []))
  t.equal(alive.status, 200, 'the server still answers')
  const csrf = await rawRequest(port, rawGet('/logout', [['Cookie', `access_token_cookie=${cookies.access_token_cookie}`], ['X-CSRF-TOKEN', Buffer.alloc(36, 0xe9)]], 'POST'))
  t.same(csrf.json, { statusCode: 401, error: 'csrf_mismatch', message: 'CSRF double submit tokens do not match.' })
})
